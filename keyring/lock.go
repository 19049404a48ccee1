package keyring

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/kitaruhq/kitaru/internal/fsutil"
)

// lockName serialises writers: Set reads, merges and writes back, and two
// kitaru processes setting keys of one secret at once must not lose one.
const lockName = "secrets.lock"

// inProcess orders writers within one process too (flock alone does not
// tell the race detector, and some systems have no flock); readers take it
// shared, so a Get never sees half of a Set in this process.
var inProcess sync.RWMutex

// withWriteLock runs fn holding the config dir's secrets lock.
func withWriteLock(configDir string, fn func() error) error {
	inProcess.Lock()
	defer inProcess.Unlock()
	if err := os.MkdirAll(configDir, fsutil.DirPerm); err != nil {
		return fmt.Errorf("cannot create %s: %w", configDir, err)
	}
	path := filepath.Join(configDir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, fsutil.FilePerm)
	if err != nil {
		return fmt.Errorf("cannot open the lock file %s: %w", path, err)
	}
	defer f.Close()
	if err := lockFile(f); err != nil {
		return fmt.Errorf("cannot lock %s: %w", path, err)
	}
	defer unlockFile(f)
	return fn()
}
