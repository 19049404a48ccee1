//go:build windows

package engine

import (
	"errors"
	"os"
)

func sigkill(pid int) {
	if pid <= 0 {
		return
	}
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}

func mkfifo(string) error { return errors.New("Windows has no named pipes in the file system") }

func maxRSSMB() (float64, bool) { return 0, false }

// lockFile: the file store's Windows lock is not taken by tests here.
func lockFile(f *os.File) error { return nil }
