//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package localsm

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/sagequeue/sagequeue/internal/runas"
)

// runAs makes cmd start as the account, with exactly its groups (none of
// the server's).
func runAs(cmd *exec.Cmd, a *runas.Account) {
	if a == nil {
		return
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: a.UID, Gid: a.GID, Groups: append([]uint32{}, a.Groups...)}
}

// confineDir gives a job's /opt/ml stand-ins to its account, 0700, and
// keeps the job directory the server's, traversable but not listable.
func confineDir(dir string, p *jobPaths, a *runas.Account) error {
	if err := os.Chmod(dir, 0o711); err != nil {
		return err
	}
	for _, top := range []string{p.input, p.model, p.output, p.checkpoints} {
		err := filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			// Lchown: a channel (or checkpoints kept elsewhere) is a
			// link to data elsewhere, which stays as it is.
			if err := os.Lchown(path, int(a.UID), int(a.GID)); err != nil {
				return err
			}
			if d.IsDir() {
				return os.Chmod(path, 0o700)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ownedCheckpointDir makes dir, CheckpointDir/<uid>/<name>, a directory
// that a's account owns, mode 0700, below root (CheckpointDir, the
// server's, 0711). Each level must be a real directory of the owner it
// should have: the server never follows a link the job may have planted.
func ownedCheckpointDir(root, dir string, a *runas.Account) error {
	if err := os.MkdirAll(root, 0o711); err != nil {
		return err
	}
	if err := os.Chmod(root, 0o711); err != nil {
		return err
	}
	for _, d := range []string{filepath.Dir(dir), dir} {
		fi, err := os.Lstat(d)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := os.Mkdir(d, 0o700); err != nil {
				return err
			}
			if err := os.Lchown(d, int(a.UID), int(a.GID)); err != nil {
				return err
			}
		case err != nil:
			return err
		case !fi.IsDir():
			return fmt.Errorf("%s is not a directory", d)
		default:
			if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Uid != a.UID {
				return fmt.Errorf("%s is not the account's own directory", d)
			}
		}
	}
	return nil
}

// readOwnedFile reads at most limit bytes of a file that a confined job
// wrote, refusing what the job could have planted to make the server read
// something else: a link, a FIFO, or a file the job does not own.
func readOwnedFile(path string, a *runas.Account, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Uid != a.UID {
		return nil, errors.New(path + " is not the job's own file")
	}
	return io.ReadAll(io.LimitReader(f, limit))
}

// tightenDir keeps a confined job from listing the job directories or
// reading other jobs' logs: the directories become 0711, the logs 0600, and
// the /opt/ml stand-ins of jobs that ran unconfined (the server's) 0700.
func tightenDir(dir string) error {
	if err := os.Chmod(dir, 0o711); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		sub := filepath.Join(dir, e.Name())
		if err := os.Chmod(sub, 0o711); err != nil {
			return err
		}
		if err := os.Chmod(filepath.Join(sub, logFile), 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		for _, d := range []string{"input", "model", "output", "checkpoints"} {
			fi, err := os.Lstat(filepath.Join(sub, d))
			if err != nil || !fi.IsDir() {
				continue
			}
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == os.Geteuid() {
				if err := os.Chmod(filepath.Join(sub, d), 0o700); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
