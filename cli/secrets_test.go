package cli

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	gokeyring "github.com/zalando/go-keyring"
)

func TestRewriteSecretSetArgs(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"secrets set creds --A=1 --B_2=x=y", "secrets set creds --pair=A=1 --pair=B_2=x=y"},
		{"secrets set creds --A", "secrets set creds --pair=A"},
		{"secrets set creds --A=-dash --json", "secrets set creds --pair=A=-dash --json"},
		{"--json secrets set creds --A=1", "--json secrets set creds --pair=A=1"},
		{"-o json secrets set creds --A=1 -o json", "-o json secrets set creds --pair=A=1 -o json"},
		{"secrets set --help", "secrets set --help"},
		{"secrets set creds --pair A=1 --B=2", "secrets set creds --pair A=1 --pair=B=2"},
		{"secrets set creds --output json --A=1", "secrets set creds --output json --pair=A=1"},
		{"secrets set creds -- --A=1", "secrets set creds -- --A=1"},
		// Other commands, and `set` elsewhere, are left alone.
		{"secrets show creds --A=1", "secrets show creds --A=1"},
		{"run set --A=1", "run set --A=1"},
		{"model register set --model=x", "model register set --model=x"},
		{"secrets", "secrets"},
		{"", ""},
	} {
		got := rewriteSecretSetArgs(strings.Fields(tc.in))
		if want := strings.Fields(tc.want); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("rewrite(%q) = %q, want %q", tc.in, got, want)
		}
	}
}

// secretsEnv isolates a test's config dir and puts go-keyring's mock in
// place of the OS keyring (for this whole test process: the Secret Service
// CLI test runs the kitaru binary instead, so it is not affected).
func secretsEnv(t *testing.T) string {
	t.Helper()
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("KITARU_SECRETS_BACKEND", "")
	// The mock never dials; the address only satisfies the bus check.
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/kitaru-mock-bus")
	gokeyring.MockInit()
	return filepath.Join(cfg, "kitaru")
}

type secretsResult struct {
	code           int
	stdout, stderr string
}

func runSecretsCLI(t *testing.T, args ...string) secretsResult {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, IO{Stdout: &out, Stderr: &errb, Stdin: strings.NewReader("")})
	return secretsResult{code, out.String(), errb.String()}
}

func wantSecretsCLI(t *testing.T, code int, args ...string) secretsResult {
	t.Helper()
	r := runSecretsCLI(t, args...)
	if r.code != code {
		t.Fatalf("kitaru %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	return r
}

func TestSecretsCLI(t *testing.T) {
	cfg := secretsEnv(t)
	r := wantSecretsCLI(t, 0, "secrets", "set", "openai-creds", "--OPENAI_API_KEY=sk-abc123", "--ORG=acme")
	if r.stdout != "Created secret openai-creds (keys: OPENAI_API_KEY, ORG)\n" {
		t.Errorf("set: %+v", r)
	}
	// acme is too short to be masked in what runs record: set says so,
	// for that key only.
	if !strings.HasPrefix(r.stderr, "kitaru: warning: the value of ORG is shorter than 6 characters, so it cannot be masked") ||
		strings.Count(r.stderr, "\n") != 1 || strings.Contains(r.stderr, "acme") {
		t.Errorf("set with a short value warned:\n%s", r.stderr)
	}
	if r := wantSecretsCLI(t, 0, "secrets", "set", "openai-creds", "--ORG=acme", "--json"); !strings.Contains(r.stdout, `"unmasked": [`) {
		t.Errorf("set --json does not list the key it cannot mask:\n%s", r.stdout)
	}
	r = wantSecretsCLI(t, 0, "secrets", "set", "openai-creds", "--OPENAI_API_KEY=sk-def456")
	if r.stdout != "Updated secret openai-creds (keys: OPENAI_API_KEY)\n" {
		t.Errorf("update: %q", r.stdout)
	}
	wantSecretsCLI(t, 0, "secrets", "set", "search", "--SERPER_API_KEY=s3rp")

	show := wantSecretsCLI(t, 0, "secrets", "show", "openai-creds")
	checkGolden(t, "keyring/show.golden", show.stdout)
	if strings.Contains(show.stdout, "sk-") || strings.Contains(show.stdout, "acme") {
		t.Errorf("show printed a value without --show-values:\n%s", show.stdout)
	}
	get := wantSecretsCLI(t, 0, "secrets", "get", "openai-creds", "--show-values")
	checkGolden(t, "keyring/show_values.golden", get.stdout)
	checkGolden(t, "keyring/show.json.golden", wantSecretsCLI(t, 0, "secrets", "show", "openai-creds", "--json").stdout)
	checkGolden(t, "keyring/list.golden", wantSecretsCLI(t, 0, "secrets", "list").stdout)
	checkGolden(t, "keyring/list.json.golden", wantSecretsCLI(t, 0, "secrets", "list", "-o", "json").stdout)

	// Nothing in the config dir holds a value.
	for _, v := range []string{"sk-abc123", "sk-def456", "acme", "s3rp"} {
		assertNoSecretOnDisk(t, cfg, v)
	}

	r = wantSecretsCLI(t, 0, "secrets", "delete", "search")
	if r.stdout != "Deleted secret search\n" {
		t.Errorf("delete: %q", r.stdout)
	}
	r = wantSecretsCLI(t, 0, "secrets", "list", "--json")
	if !strings.Contains(r.stdout, "openai-creds") || strings.Contains(r.stdout, "search") {
		t.Errorf("list after delete: %s", r.stdout)
	}
}

func TestSecretsCLIEmptyList(t *testing.T) {
	secretsEnv(t)
	if r := wantSecretsCLI(t, 0, "secrets", "list", "--json"); r.stdout != "[]\n" {
		t.Errorf("empty list --json = %q", r.stdout)
	}
	if r := wantSecretsCLI(t, 0, "secrets", "list"); !strings.Contains(r.stdout, "No secrets yet. Create one with: kitaru secrets set") {
		t.Errorf("empty list = %q", r.stdout)
	}
	// Where nothing can be stored, the hint is how to get a store, not a
	// command that would fail.
	t.Setenv("KITARU_SECRETS_BACKEND", "")
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "disabled:")
	r := wantSecretsCLI(t, 0, "secrets", "list")
	if strings.Contains(r.stdout, "secrets set") || !strings.Contains(r.stderr, "none can be stored here yet") || !strings.Contains(r.stderr, "KITARU_SECRETS_BACKEND=file") {
		t.Errorf("empty list without a keyring: stdout %q, stderr %q", r.stdout, r.stderr)
	}
}

func assertNoSecretOnDisk(t *testing.T, dir, value string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if data, err := os.ReadFile(path); err == nil && bytes.Contains(data, []byte(value)) {
			t.Errorf("%s holds a secret value", path)
		}
		return nil
	})
}

// Every rule violation is a usage error (exit 2) that says what to write.
func TestSecretsCLIUsageErrors(t *testing.T) {
	secretsEnv(t)
	wantSecretsCLI(t, 0, "secrets", "set", "exists", "--K=v")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"secrets", "set", "creds", "--OPENAI_API_KEY"}, "stdin gave none: pipe the value in, type it at a terminal, or write --OPENAI_API_KEY=VALUE"},
		{[]string{"secrets", "set", "creds", "--K", "v"}, `unexpected argument "v"`},
		{[]string{"secrets", "set", "creds", "--K=1", "--K=2"}, "given twice"},
		{[]string{"secrets", "set", "creds", "--K="}, "empty value"},
		{[]string{"secrets", "set", "creds", "--9K=x"}, `key "9K" is not valid`},
		{[]string{"secrets", "set", "creds", "--A-B=x"}, `key "A-B" is not valid`},
		{[]string{"secrets", "set", "Creds", "--K=x"}, `secret name "Creds" is not valid`},
		{[]string{"secrets", "set", "creds"}, "give at least one pair"},
		{[]string{"secrets", "show", "missing"}, `there is no secret named "missing"`},
		{[]string{"secrets", "delete", "missing"}, "kitaru secrets list"},
		{[]string{"secrets", "show", "Bad!"}, "is not valid"},
	} {
		r := runSecretsCLI(t, tc.args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("kitaru %s: exit %d, stderr %q; want exit 2 with %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.want)
		}
	}
	if r := runSecretsCLI(t, "secrets", "list", "--json"); strings.Contains(r.stdout, "creds") {
		t.Errorf("a rejected set stored something: %s", r.stdout)
	}
}

// An unreachable keyring exits 1 with the plain explanation, and list (from
// the index) still works.
func TestSecretsCLIUnavailable(t *testing.T) {
	secretsEnv(t)
	wantSecretsCLI(t, 0, "secrets", "set", "kept", "--K=v")
	gokeyring.MockInitWithError(errors.New("failed to unlock correct collection '/org/freedesktop/secrets/aliases/default'"))
	for _, args := range [][]string{
		{"secrets", "set", "new", "--K=v"},
		{"secrets", "show", "kept"},
		{"secrets", "delete", "kept"},
	} {
		r := wantSecretsCLI(t, ExitRunFailed, args...)
		for _, want := range []string{"the OS keyring is not reachable", "the keyring is locked", "gnome-keyring-daemon --unlock", "KITARU_SECRETS_BACKEND=file", "OPENAI_API_KEY"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("kitaru %s: stderr lacks %q:\n%s", strings.Join(args, " "), want, r.stderr)
			}
		}
	}
	if r := wantSecretsCLI(t, 0, "secrets", "list"); !strings.Contains(r.stdout, "kept") {
		t.Errorf("list without a keyring: %q", r.stdout)
	}
}

// The file backend works without a keyring and warns on every command.
func TestSecretsCLIFileBackend(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("KITARU_SECRETS_BACKEND", "file")
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "disabled:")
	for _, args := range [][]string{
		{"secrets", "set", "creds", "--K=file-value"},
		{"secrets", "show", "creds", "--json"},
		{"secrets", "list"},
		{"secrets", "delete", "creds"},
	} {
		r := wantSecretsCLI(t, 0, args...)
		if !strings.Contains(r.stderr, "NOT encrypted") || !strings.Contains(r.stderr, filepath.Join(cfg, "kitaru", "secrets.file.json")) {
			t.Errorf("kitaru %s: no file-backend warning on stderr: %q", strings.Join(args, " "), r.stderr)
		}
		if strings.Contains(r.stdout, "NOT encrypted") {
			t.Errorf("kitaru %s: the warning went to stdout", strings.Join(args, " "))
		}
	}
	t.Setenv("KITARU_SECRETS_BACKEND", "vault")
	if r := runSecretsCLI(t, "secrets", "list"); r.code != ExitUsage || !strings.Contains(r.stderr, `"vault"`) {
		t.Errorf("unknown backend: %+v", r)
	}
}

func TestSecretsCLIHelp(t *testing.T) {
	for _, sub := range []string{"set", "show", "get", "list", "delete"} {
		r := wantSecretsCLI(t, 0, "secrets", sub, "--help")
		if !strings.Contains(r.stdout, "kitaru secrets ") || !strings.Contains(r.stdout, "Example") {
			t.Errorf("secrets %s --help lacks an example:\n%s", sub, r.stdout)
		}
	}
}

// The real binary against the real Secret Service that make test-keyring
// starts (a private D-Bus session with an unlocked gnome-keyring).
func TestSecretServiceCLI(t *testing.T) {
	if os.Getenv("KITARU_TEST_SECRET_SERVICE") != "1" {
		t.Skip("needs a real Secret Service: run 'make test-keyring'")
	}
	e := newE2E(t)
	e.setenv("DBUS_SESSION_BUS_ADDRESS", os.Getenv("DBUS_SESSION_BUS_ADDRESS"))
	name := "cli-test-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	value := "sk-cli-" + filepath.Base(e.Dir) + "-" + filepath.Base(filepath.Dir(e.Dir))
	t.Cleanup(func() { e.run("secrets", "delete", name) })

	if r := e.must(0, "secrets", "set", name, "--OPENAI_API_KEY="+value, "--ORG=acme"); !strings.HasPrefix(r.Stdout, "Created secret "+name) {
		t.Errorf("set: %s", r)
	}
	if r := e.must(0, "secrets", "set", name, "--ORG=other"); !strings.HasPrefix(r.Stdout, "Updated secret "+name) {
		t.Errorf("update: %s", r)
	}
	if r := e.must(0, "secrets", "get", name, "--show-values"); !strings.Contains(r.Stdout, value) || !strings.Contains(r.Stdout, "other") {
		t.Errorf("get --show-values: %s", r)
	}
	if r := e.must(0, "secrets", "show", name); strings.Contains(r.Stdout, value) {
		t.Errorf("show without --show-values printed the value: %s", r)
	}
	if r := e.must(0, "secrets", "list"); !strings.Contains(r.Stdout, name) {
		t.Errorf("list: %s", r)
	}
	// The keyring's own tool sees the value; no file of kitaru's holds it.
	out, err := exec.Command("secret-tool", "search", "--all", "service", "kitaru", "username", name).CombinedOutput()
	if err != nil || !strings.Contains(string(out), value) {
		t.Errorf("secret-tool search: %v\n%s", err, out)
	}
	assertNoSecretOnDisk(t, e.Cfg, value)
	assertNoSecretOnDisk(t, e.Home, value)

	e.must(0, "secrets", "delete", name)
	if r := e.must(ExitUsage, "secrets", "show", name); !strings.Contains(r.Stderr, "no secret named") {
		t.Errorf("show after delete: %s", r)
	}
	if out, _ := exec.Command("secret-tool", "search", "--all", "service", "kitaru", "username", name).CombinedOutput(); strings.Contains(string(out), value) {
		t.Errorf("the keyring still holds the value after delete:\n%s", out)
	}
}

// The real binary on a machine without a session bus: exit 1 and the plain
// explanation, no hang and no silent fallback to a file.
func TestSecretsE2ENoKeyring(t *testing.T) {
	e := newE2E(t) // its environment turns the session bus off
	r := e.must(ExitRunFailed, "secrets", "set", "creds", "--OPENAI_API_KEY=sk-x")
	for _, want := range []string{"the OS keyring is not reachable", "dbus-run-session", "KITARU_SECRETS_BACKEND=file", "OPENAI_API_KEY"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
		}
	}
	assertNoSecretOnDisk(t, e.Cfg, "sk-x")
	// Only the (empty) writers' lock may be there: no index entry.
	entries, _ := os.ReadDir(filepath.Join(e.Cfg, "kitaru"))
	for _, en := range entries {
		if en.Name() != "secrets.lock" {
			t.Errorf("a failed set left %s", en.Name())
		}
	}
}

// The rewrite never drops or invents an argument: each input word survives,
// either as is or as --pair=WORD-without-dashes, in order.
func FuzzRewriteSecretSetArgs(f *testing.F) {
	f.Add("secrets\x00set\x00creds\x00--A=1\x00--json")
	f.Add("-o\x00json\x00secrets\x00set\x00x\x00--pair\x00A=1\x00--B")
	f.Add("run\x00flow.yaml\x00--input\x00a=b")
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x00")
		got := rewriteSecretSetArgs(args)
		if len(got) != len(args) {
			t.Fatalf("rewrite(%q) = %q: length changed", args, got)
		}
		for i, a := range args {
			if got[i] != a && got[i] != "--pair="+strings.TrimPrefix(a, "--") {
				t.Fatalf("rewrite(%q)[%d] = %q, from %q", args, i, got[i], a)
			}
		}
		if secretSetIndex(args) < 0 && !reflect.DeepEqual(got, args) {
			t.Fatalf("rewrite changed a command that is not `secrets set`: %q → %q", args, got)
		}
	})
}
