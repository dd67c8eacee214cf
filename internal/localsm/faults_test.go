package localsm

import (
	"errors"
	"os"
	"syscall"
	"testing"
)

func TestMachineFault(t *testing.T) {
	for name, tc := range map[string]struct {
		err        error
		fault, why string
	}{
		"disk full":           {&os.PathError{Op: "write", Path: "/j/x", Err: syscall.ENOSPC}, faultDiskFull, "InfrastructureError: DISK_FULL - cannot do it: write /j/x: no space left on device"},
		"quota":               {&os.PathError{Op: "write", Path: "/j/x", Err: syscall.EDQUOT}, faultDiskFull, ""},
		"no descriptors":      {os.NewSyscallError("pipe2", syscall.EMFILE), faultFileDescriptors, "InfrastructureError: FILE_DESCRIPTORS_EXHAUSTED - cannot do it: pipe2: too many open files"},
		"no system fds":       {os.NewSyscallError("open", syscall.ENFILE), faultFileDescriptors, ""},
		"no processes":        {os.NewSyscallError("fork/exec", syscall.EAGAIN), faultProcesses, ""},
		"no memory":           {syscall.ENOMEM, faultMemory, ""},
		"read-only":           {&os.PathError{Op: "open", Path: "/j/x", Err: syscall.EROFS}, faultReadOnly, ""},
		"a missing file":      {&os.PathError{Op: "stat", Path: "/data", Err: syscall.ENOENT}, "", "ClientError: cannot do it: stat /data: no such file or directory"},
		"no permission":       {&os.PathError{Op: "open", Path: "/data", Err: syscall.EACCES}, "", ""},
		"not a system error":  {errors.New("channel train: bad"), "", "ClientError: cannot do it: channel train: bad"},
		"wrapped disk full":   {errors.Join(errors.New("channel c"), &os.PathError{Op: "mkdir", Path: "d", Err: syscall.ENOSPC}), faultDiskFull, ""},
		"an I/O error":        {&os.PathError{Op: "read", Path: "/j/x", Err: syscall.EIO}, faultIO, ""},
		"wrapped no fds, too": {&os.LinkError{Op: "symlink", Old: "a", New: "b", Err: syscall.EMFILE}, faultFileDescriptors, ""},
	} {
		if got := machineFault(tc.err); got != tc.fault {
			t.Errorf("%s: machineFault = %q, want %q", name, got, tc.fault)
		}
		if tc.why != "" {
			if got := failureOf("cannot do it", tc.err); got != tc.why {
				t.Errorf("%s: failureOf = %q, want %q", name, got, tc.why)
			}
		}
	}
}
