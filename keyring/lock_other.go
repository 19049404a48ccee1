//go:build !unix

package keyring

import "os"

// Without flock, only writers in one process are ordered.
func lockFile(*os.File) error { return nil }

func unlockFile(*os.File) {}
