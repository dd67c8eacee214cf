package localsm

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/sagequeue/sagequeue/internal/runas"
)

// prepareCheckpoints makes <job>/checkpoints, the stand-in of
// CheckpointConfig.LocalPath (/opt/ml/checkpoints by default).
//
// SageMaker copies what is under CheckpointConfig.S3Uri into LocalPath when
// a job starts and uploads what the job writes there, which is how a job
// run again (a retry, a spot interruption) resumes. Here the stand-in is a
// link to a directory that outlives the job: the path of a file:// URI, or
// for s3:// and https:// URIs a directory of the endpoint's own
// (CheckpointDir/<bucket>/<key>), so that the same payload resumes locally
// and on SageMaker. Without CheckpointConfig it is a plain directory that
// goes with the job, as a container's would.
//
// A confined job (Config.RunAs) keeps its checkpoints apart from other
// accounts': under CheckpointDir/<uid>/, in a directory of its own that
// the account owns; it may not name a file:// path, which the server
// would create for it wherever it points.
func (s *Server) prepareCheckpoints(j *job, p *jobPaths, lg noter) error {
	p.checkpoints = filepath.Join(j.dir, "checkpoints")
	cc := j.req.in.CheckpointConfig
	if cc == nil || cc.S3Uri == nil || *cc.S3Uri == "" {
		return os.MkdirAll(p.checkpoints, 0o755)
	}
	acct, err := s.account(j)
	if err != nil {
		return err
	}
	target, err := s.checkpointTarget(*cc.S3Uri, acct)
	if err != nil {
		return fmt.Errorf("CheckpointConfig.S3Uri: %w", err)
	}
	if acct != nil {
		err = ownedCheckpointDir(s.cfg.CheckpointDir, target, acct)
	} else {
		// The job runs as the server: only it needs to reach the directory.
		err = os.MkdirAll(target, 0o700)
	}
	if err != nil {
		return err
	}
	if fi, err := os.Lstat(p.checkpoints); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return nil // prepared before (a job directory is prepared once, but be safe)
	}
	lg.note("checkpoints: %s is kept in %s", *cc.S3Uri, target)
	return os.Symlink(target, p.checkpoints)
}

// checkpointTarget is the local directory that stands for a checkpoint URI
// of a job running as acct (nil: as the server).
func (s *Server) checkpointTarget(uri string, acct *runas.Account) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "file":
		if acct != nil {
			return "", fmt.Errorf("%s: a job that runs as another account keeps its checkpoints in the endpoint's directory: give an s3:// URI", uri)
		}
		if u.Host != "" && u.Host != "localhost" || !filepath.IsAbs(u.Path) {
			return "", fmt.Errorf("%s: a file:// URI names an absolute path on this machine (file:///path)", uri)
		}
		return filepath.Clean(u.Path), nil
	case "s3", "https":
		key := strings.Trim(u.Path, "/")
		// Clean as a rooted path first, so that ".." cannot climb out of
		// the bucket's directory.
		rel := strings.TrimPrefix(filepath.Clean("/"+filepath.Join(u.Host, key)), "/")
		if u.Host == "" || rel == "" || rel == "." {
			return "", fmt.Errorf("%s names no bucket", uri)
		}
		if acct != nil {
			// One directory, named by the whole URI, in the account's:
			// no path the job could have planted a link in on the way.
			return filepath.Join(s.cfg.CheckpointDir, strconv.FormatUint(uint64(acct.UID), 10), url.PathEscape(rel)), nil
		}
		return filepath.Join(s.cfg.CheckpointDir, rel), nil
	}
	return "", fmt.Errorf("%s: the local endpoint keeps checkpoints for s3://, https:// and file:// URIs", uri)
}

// moreEnvironment is what the SageMaker training toolkit sets beyond the
// variables environment() sets from the job's directories: where the
// toolkit looks for /opt/ml outside SageMaker (SAGEMAKER_BASE_DIR, which
// makes a script that uses the toolkit find this job's directory), the
// intermediate output directory, and the hyperparameters as command-line
// arguments.
func moreEnvironment(j *job, p *jobPaths) []string {
	args := []string{}
	keys := make([]string, 0, len(j.req.in.HyperParameters))
	for k := range j.req.in.HyperParameters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--"+k, j.req.in.HyperParameters[k])
	}
	userArgs, _ := json.Marshal(args)
	return []string{
		// The parent of the model directory: the job's directory for a
		// process, /opt/ml inside a container.
		"SAGEMAKER_BASE_DIR=" + path.Dir(p.model),
		"SM_OUTPUT_INTERMEDIATE_DIR=" + path.Join(p.output, "intermediate"),
		"SM_USER_ARGS=" + string(userArgs),
	}
}
