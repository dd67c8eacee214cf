package supervisor

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// WriteFileAtomic writes a file through a temporary file and a rename, so
// that a crash leaves the old file or the new one; with sync, the data is
// on disk before the rename.
func WriteFileAtomic(path string, data []byte, perm os.FileMode, sync bool) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// WriteJSONAtomic writes v as JSON so that a crash leaves the old file or
// the new one. Not durably: the files of a supervisor describe processes,
// which a power loss ends anyway (the job then goes back to its queue as
// SUPERVISOR_LOST, or runs again if nothing started).
func WriteJSONAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, b, 0o600, false)
}

// ReadJSON reads a file WriteJSONAtomic wrote; ok is false when there is
// none (or it cannot be read, which for a file written atomically means the
// same: it was never written).
func ReadJSON(path string, v any) (ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	return json.Unmarshal(b, v) == nil
}
