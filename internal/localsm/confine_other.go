//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package localsm

import (
	"errors"
	"os/exec"

	"github.com/sagequeue/sagequeue/internal/runas"
)

// Elsewhere there is no way to start a process as another account here.

var errNoConfinement = errors.New("running training jobs as another account is only supported on Unix")

func runAs(*exec.Cmd, *runas.Account) {}

func confineDir(string, *jobPaths, *runas.Account) error { return errNoConfinement }

func readOwnedFile(string, *runas.Account, int64) ([]byte, error) { return nil, errNoConfinement }

func tightenDir(string) error { return errNoConfinement }

func ownedCheckpointDir(string, string, *runas.Account) error { return errNoConfinement }
