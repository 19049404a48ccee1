package keyring

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	gokeyring "github.com/zalando/go-keyring"
)

// mockStore opens an OS-backend store over go-keyring's in-memory mock.
// The mock replaces go-keyring's provider for the whole process, so under
// a real Secret Service run (make test-keyring) these tests step aside.
func mockStore(t *testing.T) *Store {
	t.Helper()
	if os.Getenv("KITARU_TEST_SECRET_SERVICE") == "1" {
		t.Skip("go-keyring mock tests do not run against the real Secret Service (make test-unit runs them)")
	}
	gokeyring.MockInit()
	// The mock never dials; this only satisfies the "is there a bus at
	// all" check that guards the real keyring.
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/kitaru-mock-bus")
	s, err := Open(Options{Backend: BackendOS, ConfigDir: filepath.Join(t.TempDir(), "kitaru")})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openFile(t *testing.T) *Store {
	t.Helper()
	s, err := Open(Options{Backend: BackendFile, ConfigDir: filepath.Join(t.TempDir(), "kitaru")})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// stores runs a test against both backends.
func stores(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Run("os", func(t *testing.T) { fn(t, mockStore(t)) })
	t.Run("file", func(t *testing.T) { fn(t, openFile(t)) })
}

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"openai-creds", true},
		{"a", true},
		{"0day", true},
		{"team.prod_key-2", true},
		{"", false},
		{"OpenAI", false},
		{"-lead", false},
		{".hidden", false},
		{"_under", false},
		{"has space", false},
		{"slash/name", false},
		{"ünïcode", false},
		{strings.Repeat("a", maxNameLen), true},
		{strings.Repeat("a", maxNameLen+1), false},
	} {
		err := ValidateName(tc.name)
		if tc.ok && err != nil {
			t.Errorf("ValidateName(%q) = %v, want nil", tc.name, err)
		}
		if !tc.ok {
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Errorf("ValidateName(%q) = %v, want a *UsageError", tc.name, err)
			}
		}
	}
}

func TestParsePairs(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		want    map[string]string
		wantErr string
	}{
		{in: []string{"A=1", "_b=two"}, want: map[string]string{"A": "1", "_b": "two"}},
		{in: []string{"URL=https://x/?a=b"}, want: map[string]string{"URL": "https://x/?a=b"}},
		{in: []string{"K= spaced "}, want: map[string]string{"K": " spaced "}},
		{in: []string{"A=1", "A=2"}, wantErr: "given twice"},
		{in: []string{"A="}, wantErr: "empty value"},
		{in: []string{"A"}, wantErr: "write --A=VALUE"},
		{in: []string{"1A=x"}, wantErr: "not valid"},
		{in: []string{"A-B=x"}, wantErr: "not valid"},
		{in: []string{"=x"}, wantErr: "not valid"},
	} {
		got, err := ParsePairs(tc.in)
		if tc.wantErr != "" {
			var ue *UsageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParsePairs(%q) error = %v, want a *UsageError containing %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParsePairs(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestSetRejectsBadInput(t *testing.T) {
	stores(t, func(t *testing.T, s *Store) {
		for _, tc := range []struct {
			name   string
			values map[string]string
		}{
			{"Bad", map[string]string{"K": "v"}},
			{"ok", nil},
			{"ok", map[string]string{"K": ""}},
			{"ok", map[string]string{"9K": "v"}},
		} {
			_, err := s.Set(tc.name, tc.values)
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Errorf("Set(%q, %v) = %v, want a *UsageError", tc.name, tc.values, err)
			}
		}
		if list, _ := s.List(); len(list) != 0 {
			t.Errorf("rejected input was stored: %v", list)
		}
	})
}

func TestSetCreatesThenMerges(t *testing.T) {
	stores(t, func(t *testing.T, s *Store) {
		created, err := s.Set("openai-creds", map[string]string{"OPENAI_API_KEY": "sk-one", "ORG": "acme"})
		if err != nil || !created {
			t.Fatalf("first Set = %v, %v; want created", created, err)
		}
		created, err = s.Set("openai-creds", map[string]string{"OPENAI_API_KEY": "sk-two", "PROJECT": "p1"})
		if err != nil || created {
			t.Fatalf("second Set = %v, %v; want updated", created, err)
		}
		got, err := s.Get("openai-creds")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"OPENAI_API_KEY": "sk-two", "ORG": "acme", "PROJECT": "p1"}
		if !maps.Equal(got, want) {
			t.Errorf("Get = %v, want %v", got, want)
		}
		// The caller owns what Get returns.
		got["ORG"] = "changed"
		if again, _ := s.Get("openai-creds"); again["ORG"] != "acme" {
			t.Errorf("changing Get's map changed the store")
		}
		list, err := s.List()
		if err != nil {
			t.Fatal(err)
		}
		wantList := []Secret{{Name: "openai-creds", Keys: []string{"OPENAI_API_KEY", "ORG", "PROJECT"}}}
		if !reflect.DeepEqual(list, wantList) {
			t.Errorf("List = %v, want %v", list, wantList)
		}
	})
}

func TestListSorted(t *testing.T) {
	stores(t, func(t *testing.T, s *Store) {
		for _, n := range []string{"zeta", "alpha", "mid"} {
			if _, err := s.Set(n, map[string]string{"B": "x", "A": "y"}); err != nil {
				t.Fatal(err)
			}
		}
		list, err := s.List()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, sec := range list {
			names = append(names, sec.Name)
			if !reflect.DeepEqual(sec.Keys, []string{"A", "B"}) {
				t.Errorf("%s keys = %v, want [A B]", sec.Name, sec.Keys)
			}
		}
		if !reflect.DeepEqual(names, []string{"alpha", "mid", "zeta"}) {
			t.Errorf("names = %v", names)
		}
	})
}

func TestGetAndDeleteUnknown(t *testing.T) {
	stores(t, func(t *testing.T, s *Store) {
		var nf *NotFoundError
		if _, err := s.Get("nope"); !errors.Is(err, ErrNotFound) || !errors.As(err, &nf) || nf.Name != "nope" {
			t.Errorf("Get unknown = %v, want ErrNotFound naming the secret", err)
		}
		if err := s.Delete("nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Delete unknown = %v, want ErrNotFound", err)
		}
		if _, err := s.Set("there", map[string]string{"K": "v"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete("there"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get("there"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get after Delete = %v, want ErrNotFound", err)
		}
		if list, _ := s.List(); len(list) != 0 {
			t.Errorf("List after Delete = %v", list)
		}
		if _, err := s.Get("Bad Name"); !isUsage(err) {
			t.Errorf("Get(bad name) = %v, want a *UsageError", err)
		}
	})
}

func isUsage(err error) bool {
	var ue *UsageError
	return errors.As(err, &ue)
}

func TestIndexNeverHoldsValues(t *testing.T) {
	s := mockStore(t)
	const value = "sk-VALUE-must-not-reach-disk"
	if _, err := s.Set("creds", map[string]string{"OPENAI_API_KEY": value}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Set("creds", map[string]string{"OTHER": value + "2"}); err != nil {
		t.Fatal(err)
	}
	assertNotOnDisk(t, s.configDir, value)
	idx := filepath.Join(s.configDir, indexName)
	data, err := os.ReadFile(idx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "OPENAI_API_KEY") || !strings.Contains(string(data), "OTHER") {
		t.Errorf("index %s lacks the key names: %s", idx, data)
	}
	assertPerm(t, idx, 0o600)
	assertPerm(t, s.configDir, 0o700)
	// The value is in the keyring, as one JSON object under service kitaru.
	raw, err := gokeyring.Get(service, "creds")
	if err != nil || !strings.Contains(raw, value) {
		t.Errorf("keyring item = %q, %v; want it to hold the value", raw, err)
	}
}

// assertNotOnDisk fails if any file under dir contains value.
func assertNotOnDisk(t *testing.T, dir, value string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(data), value) {
			t.Errorf("%s contains a secret value", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func assertPerm(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s mode = %04o, want %04o", path, got, want)
	}
}

func TestDeleteTidiesIndexWhenItemIsGone(t *testing.T) {
	s := mockStore(t)
	if _, err := s.Set("gone", map[string]string{"K": "v"}); err != nil {
		t.Fatal(err)
	}
	// Removed outside kitaru (for example with seahorse).
	if err := gokeyring.Delete(service, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("gone"); err != nil {
		t.Fatalf("Delete of an indexed secret whose item is gone = %v, want nil", err)
	}
	if list, _ := s.List(); len(list) != 0 {
		t.Errorf("List = %v, want empty", list)
	}
}

func TestForeignKeyringItem(t *testing.T) {
	s := mockStore(t)
	if err := gokeyring.Set(service, "foreign", "not-json-SECRETISH"); err != nil {
		t.Fatal(err)
	}
	_, err := s.Get("foreign")
	if err == nil || strings.Contains(err.Error(), "SECRETISH") {
		t.Errorf("Get of a non-JSON item = %v, want an error that does not quote the value", err)
	}
}

func TestFileBackend(t *testing.T) {
	s := openFile(t)
	if s.Backend() != BackendFile || !strings.Contains(s.Warning(), "NOT encrypted") {
		t.Errorf("Backend = %q, Warning = %q", s.Backend(), s.Warning())
	}
	if _, err := s.Set("creds", map[string]string{"K": "file-value"}); err != nil {
		t.Fatal(err)
	}
	path := fileStorePath(s.configDir)
	assertPerm(t, path, 0o600)
	assertPerm(t, s.configDir, 0o700)
	if err := s.Check(); err != nil {
		t.Errorf("Check = %v", err)
	}
	// Opened up by someone: refuse to use it rather than spread it further.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("creds"); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("Get from a 0644 file = %v, want the chmod advice", err)
	}
	if err := s.Check(); err == nil {
		t.Errorf("Check on a 0644 file = nil")
	}
}

// A damaged index or secrets file is named in the error, not ignored.
func TestDamagedFileIsNamed(t *testing.T) {
	stores(t, func(t *testing.T, s *Store) {
		path := fileStorePath(s.configDir)
		if s.Backend() == BackendOS {
			path = filepath.Join(s.configDir, indexName)
		}
		if err := os.MkdirAll(s.configDir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("[]"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := s.List(); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("List on a damaged file = %v, want an error naming %s", err, path)
		}
		if _, err := s.Set("x", map[string]string{"K": "v"}); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("Set over a damaged file = %v, want an error naming %s", err, path)
		}
		if _, err := s.Get("x"); err == nil {
			t.Errorf("a Set that failed on a damaged file stored the secret")
		}
	})
}

func TestOpenBackendChoice(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(BackendEnv, "")
	if s, err := Open(Options{ConfigDir: dir}); err != nil || s.Backend() != BackendOS || s.Warning() != "" {
		t.Errorf("default backend = %v, %v; want os without warning", s, err)
	}
	t.Setenv(BackendEnv, "file")
	if s, err := Open(Options{ConfigDir: dir}); err != nil || s.Backend() != BackendFile {
		t.Errorf("env file backend = %v, %v", s, err)
	}
	if s, err := Open(Options{ConfigDir: dir, Backend: "os"}); err != nil || s.Backend() != BackendOS {
		t.Errorf("explicit os beats env: %v, %v", s, err)
	}
	t.Setenv(BackendEnv, "vault")
	if _, err := Open(Options{ConfigDir: dir}); !isUsage(err) || !strings.Contains(err.Error(), "vault") {
		t.Errorf("unknown backend = %v, want a *UsageError naming it", err)
	}
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv(BackendEnv, "")
	if s, err := Open(Options{}); err != nil || s.configDir != filepath.Join(dir, "kitaru") {
		t.Errorf("ConfigDir default = %v, %v", s, err)
	}
}

// Writers setting different keys of one secret at once lose none of them,
// and readers in parallel (as parallel steps of a run) see whole secrets.
func TestConcurrentSetsKeepEveryKey(t *testing.T) {
	stores(t, func(t *testing.T, s *Store) {
		if _, err := s.Set("shared", map[string]string{"K0": "v"}); err != nil {
			t.Fatal(err)
		}
		const n = 16
		errs := make(chan error, 2*n)
		for i := range n {
			go func() {
				_, err := s.Set("shared", map[string]string{"K" + strconv.Itoa(i): "v"})
				errs <- err
			}()
			go func() {
				v, err := s.Get("shared")
				if err == nil && v["K0"] != "v" {
					err = errors.New("a reader saw a secret without K0")
				}
				errs <- err
			}()
		}
		for range 2 * n {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		got, err := s.Get("shared")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n {
			t.Errorf("after %d concurrent Sets the secret has %d keys: %v", n, len(got), slices.Sorted(maps.Keys(got)))
		}
	})
}
