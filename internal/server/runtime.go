package server

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// checkContainerRuntime makes sure a configured container runtime answers
// before the server takes jobs for it, so that a missing podman or a
// stopped Docker daemon is said at start, not by every job that fails.
func checkContainerRuntime(ctx context.Context, runtime []string) error {
	if len(runtime) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	argv := append(append([]string(nil), runtime...), "version")
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err == nil {
		return nil
	}
	var ee *exec.Error
	if errors.As(err, &ee) {
		return fmt.Errorf("--container-runtime %s: %w", strings.Join(runtime, " "), ee.Err)
	}
	return fmt.Errorf("--container-runtime %s: `%s` failed (%v): %s", strings.Join(runtime, " "), strings.Join(argv, " "), err, lastLine(string(out)))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
