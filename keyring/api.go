// Package keyring keeps named secrets (sets of KEY=VALUE pairs) in the OS
// keyring, with an index of names and key names (never values) on disk.
package keyring

import "errors"

// ErrNotFound is returned for a secret that does not exist.
var ErrNotFound = errors.New("secret not found")

// Getter reads secrets; it is all the engine and providers need.
type Getter interface {
	// Get returns every key of the named secret, or an error wrapping
	// ErrNotFound.
	Get(name string) (map[string]string, error)
}
