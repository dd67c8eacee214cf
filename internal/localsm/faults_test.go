package localsm

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/sagequeue/sagequeue/internal/supervisor"
)

func TestMachineFault(t *testing.T) {
	for name, tc := range map[string]struct {
		err        error
		fault, why string
	}{
		"disk full":           {&os.PathError{Op: "write", Path: "/j/x", Err: syscall.ENOSPC}, supervisor.FaultDiskFull, "InfrastructureError: DISK_FULL - cannot do it: write /j/x: no space left on device"},
		"quota":               {&os.PathError{Op: "write", Path: "/j/x", Err: syscall.EDQUOT}, supervisor.FaultDiskFull, ""},
		"no descriptors":      {os.NewSyscallError("pipe2", syscall.EMFILE), supervisor.FaultFileDescriptors, "InfrastructureError: FILE_DESCRIPTORS_EXHAUSTED - cannot do it: pipe2: too many open files"},
		"no system fds":       {os.NewSyscallError("open", syscall.ENFILE), supervisor.FaultFileDescriptors, ""},
		"no processes":        {os.NewSyscallError("fork/exec", syscall.EAGAIN), supervisor.FaultProcesses, ""},
		"no memory":           {syscall.ENOMEM, supervisor.FaultMemory, ""},
		"read-only":           {&os.PathError{Op: "open", Path: "/j/x", Err: syscall.EROFS}, supervisor.FaultReadOnly, ""},
		"a missing file":      {&os.PathError{Op: "stat", Path: "/data", Err: syscall.ENOENT}, "", "ClientError: cannot do it: stat /data: no such file or directory"},
		"no permission":       {&os.PathError{Op: "open", Path: "/data", Err: syscall.EACCES}, "", ""},
		"not a system error":  {errors.New("channel train: bad"), "", "ClientError: cannot do it: channel train: bad"},
		"wrapped disk full":   {errors.Join(errors.New("channel c"), &os.PathError{Op: "mkdir", Path: "d", Err: syscall.ENOSPC}), supervisor.FaultDiskFull, ""},
		"an I/O error":        {&os.PathError{Op: "read", Path: "/j/x", Err: syscall.EIO}, supervisor.FaultIO, ""},
		"wrapped no fds, too": {&os.LinkError{Op: "symlink", Old: "a", New: "b", Err: syscall.EMFILE}, supervisor.FaultFileDescriptors, ""},
	} {
		if got := supervisor.MachineFault(tc.err); got != tc.fault {
			t.Errorf("%s: MachineFault = %q, want %q", name, got, tc.fault)
		}
		if tc.why != "" {
			if got := failureOf("cannot do it", tc.err); got != tc.why {
				t.Errorf("%s: failureOf = %q, want %q", name, got, tc.why)
			}
		}
	}
}
