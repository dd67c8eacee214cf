package localsm

import (
	"os"
	"strings"

	"github.com/sagequeue/sagequeue/internal/runas"
)

// Confinement: when Config.RunAs names an account for a job, its process
// runs as that account, its /opt/ml stand-ins (input/, model/, output/)
// belong to it with mode 0700, and it gets a clean environment instead of
// the server's. The job directory itself, its state.json and output.log
// stay the server's: a job must not be able to rewrite what the server
// reads back (its recorded pid, which a restarted server signals) or turn
// its log into a link to a file only the server may read.

// account resolves the account of a job, nil for the server's own.
func (s *Server) account(j *job) (*runas.Account, error) {
	if s.cfg.RunAs == nil {
		return nil, nil
	}
	return s.cfg.RunAs(j.req.tags)
}

// passedEnv are the server's variables a confined job still gets: what
// finds programs, libraries and GPUs, the locale, and the proxies.
var passedEnv = []string{"PATH", "LANG", "LANGUAGE", "TZ", "LD_LIBRARY_PATH", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
	"http_proxy", "https_proxy", "no_proxy"}

var passedEnvPrefixes = []string{"LC_", "CUDA_", "NVIDIA_"}

// baseEnvironment is the environment a job starts from: the server's, or
// for a confined job only passedEnv and the account's identity. The
// server's may hold its own secrets (AWS credentials, say).
func baseEnvironment(a *runas.Account) []string {
	if a == nil {
		return os.Environ()
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		keep := false
		for _, p := range passedEnv {
			keep = keep || k == p
		}
		for _, p := range passedEnvPrefixes {
			keep = keep || strings.HasPrefix(k, p)
		}
		if keep {
			env = append(env, kv)
		}
	}
	if a.Name != "" {
		env = append(env, "USER="+a.Name, "LOGNAME="+a.Name)
	}
	if a.Home != "" {
		env = append(env, "HOME="+a.Home)
	}
	return env
}
