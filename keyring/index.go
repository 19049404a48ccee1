package keyring

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"

	"github.com/kitaruhq/kitaru/internal/fsutil"
)

// indexName is the OS backend's list of secret names and key names. It
// exists because go-keyring cannot enumerate items. It never holds values.
const indexName = "secrets.json"

type indexFile struct {
	Secrets map[string]indexEntry `json:"secrets"`
}

type indexEntry struct {
	Keys []string `json:"keys"`
}

type index struct {
	path string
}

func (x index) read() (indexFile, error) {
	f := indexFile{Secrets: map[string]indexEntry{}}
	data, err := os.ReadFile(x.path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("cannot read the secrets index %s: %w", x.path, err)
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return f, fmt.Errorf("the secrets index %s is damaged (%v); it holds only names, so you may delete it and set your secrets again to rebuild it", x.path, err)
	}
	if f.Secrets == nil {
		f.Secrets = map[string]indexEntry{}
	}
	return f, nil
}

func (x index) write(f indexFile) error {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode the secrets index: %w", err)
	}
	return fsutil.WriteFileAtomic(x.path, append(data, '\n'))
}

func (x index) update(name string, keys []string) error {
	f, err := x.read()
	if err != nil {
		return err
	}
	f.Secrets[name] = indexEntry{Keys: keys}
	return x.write(f)
}

// remove drops name and says whether it was listed.
func (x index) remove(name string) (bool, error) {
	f, err := x.read()
	if err != nil {
		return false, err
	}
	if _, ok := f.Secrets[name]; !ok {
		return false, nil
	}
	delete(f.Secrets, name)
	return true, x.write(f)
}

func (x index) list() ([]Secret, error) {
	f, err := x.read()
	if err != nil {
		return nil, err
	}
	out := make([]Secret, 0, len(f.Secrets))
	for _, name := range slices.Sorted(maps.Keys(f.Secrets)) {
		keys := slices.Clone(f.Secrets[name].Keys)
		slices.Sort(keys)
		out = append(out, Secret{Name: name, Keys: keys})
	}
	return out, nil
}
