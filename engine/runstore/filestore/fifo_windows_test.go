//go:build windows

package filestore

import "errors"

func mkfifo(string) error { return errors.New("Windows has no named pipes in the file system") }
