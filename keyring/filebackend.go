package keyring

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/kitaruhq/kitaru/internal/fsutil"
)

// fileStoreName holds the file backend's values, NOT encrypted.
const fileStoreName = "secrets.file.json"

func fileStorePath(configDir string) string { return filepath.Join(configDir, fileStoreName) }

// fileBackend is the opt-in store for machines without a keyring: one
// JSON file, mode 0600, written atomically.
type fileBackend struct {
	path string
}

type fileStore struct {
	Secrets map[string]map[string]string `json:"secrets"`
}

func (b *fileBackend) read() (fileStore, error) {
	st := fileStore{Secrets: map[string]map[string]string{}}
	info, err := os.Stat(b.path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("cannot read the secrets file %s: %w", b.path, err)
	}
	// Refuse, rather than use, values other users can read.
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return st, fmt.Errorf("the secrets file %s is readable or writable by other users (mode %04o): run 'chmod 600 %s'", b.path, perm, b.path)
	}
	data, err := os.ReadFile(b.path)
	if err != nil {
		return st, fmt.Errorf("cannot read the secrets file %s: %w", b.path, err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("the secrets file %s is damaged (%v): fix it by hand or delete it and set your secrets again", b.path, err)
	}
	if st.Secrets == nil {
		st.Secrets = map[string]map[string]string{}
	}
	return st, nil
}

func (b *fileBackend) write(st fileStore) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode the secrets file: %w", err)
	}
	return fsutil.WriteFileAtomic(b.path, append(data, '\n'))
}

func (b *fileBackend) get(name string) (map[string]string, error) {
	st, err := b.read()
	if err != nil {
		return nil, err
	}
	values, ok := st.Secrets[name]
	if !ok {
		return nil, notFound(name)
	}
	return maps.Clone(values), nil
}

func (b *fileBackend) put(name string, values map[string]string) error {
	st, err := b.read()
	if err != nil {
		return err
	}
	st.Secrets[name] = maps.Clone(values)
	return b.write(st)
}

func (b *fileBackend) remove(name string) error {
	st, err := b.read()
	if err != nil {
		return err
	}
	if _, ok := st.Secrets[name]; !ok {
		return notFound(name)
	}
	delete(st.Secrets, name)
	return b.write(st)
}

func (b *fileBackend) list() ([]Secret, error) {
	st, err := b.read()
	if err != nil {
		return nil, err
	}
	out := make([]Secret, 0, len(st.Secrets))
	for _, name := range slices.Sorted(maps.Keys(st.Secrets)) {
		out = append(out, Secret{Name: name, Keys: sortedKeys(st.Secrets[name])})
	}
	return out, nil
}

func (b *fileBackend) check() error {
	_, err := b.read()
	return err
}
