package keyring

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// requireSecretService skips unless make test-keyring runs us inside a
// private D-Bus session with an unlocked gnome-keyring.
func requireSecretService(t *testing.T) {
	t.Helper()
	if os.Getenv("KITARU_TEST_SECRET_SERVICE") != "1" {
		t.Skip("needs a real Secret Service: run 'make test-keyring'")
	}
	if _, err := exec.LookPath("secret-tool"); err != nil {
		t.Fatal("secret-tool is missing: apt-get install -y --no-install-recommends libsecret-tools")
	}
}

func randomSuffix(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// secretTool returns what secret-tool finds for a kitaru secret: the
// keyring's own view, not kitaru's.
func secretTool(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("secret-tool", "search", "--all", "service", service, "username", name).CombinedOutput()
	if err != nil && len(out) > 0 {
		t.Fatalf("secret-tool search: %v\n%s", err, out)
	}
	return string(out)
}

func TestSecretServiceRoundTrip(t *testing.T) {
	requireSecretService(t)
	dir := filepath.Join(t.TempDir(), "kitaru")
	s, err := Open(Options{Backend: BackendOS, ConfigDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatalf("Check = %v", err)
	}
	name := "test-" + randomSuffix(t)
	first := "sk-first-" + randomSuffix(t)
	second := "sk-second-" + randomSuffix(t)
	t.Cleanup(func() { _ = s.Delete(name) })

	created, err := s.Set(name, map[string]string{"OPENAI_API_KEY": first, "ORG": "acme"})
	if err != nil || !created {
		t.Fatalf("Set = %v, %v", created, err)
	}
	if found := secretTool(t, name); !strings.Contains(found, first) {
		t.Errorf("secret-tool does not see the value in the keyring:\n%s", found)
	}
	created, err = s.Set(name, map[string]string{"OPENAI_API_KEY": second})
	if err != nil || created {
		t.Fatalf("update Set = %v, %v", created, err)
	}
	got, err := s.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"OPENAI_API_KEY": second, "ORG": "acme"}; !maps.Equal(got, want) {
		t.Errorf("Get = %v, want %v", got, want)
	}
	found := secretTool(t, name)
	if !strings.Contains(found, second) || strings.Contains(found, first) {
		t.Errorf("keyring item after update:\n%s", found)
	}
	if list, err := s.List(); err != nil || len(list) != 1 || list[0].Name != name {
		t.Errorf("List = %v, %v", list, err)
	}
	assertNotOnDisk(t, dir, first)
	assertNotOnDisk(t, dir, second)
	assertPerm(t, filepath.Join(dir, indexName), 0o600)

	if err := s.Delete(name); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(name); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete = %v, want ErrNotFound", err)
	}
	if found := secretTool(t, name); strings.Contains(found, second) {
		t.Errorf("the keyring still holds the secret after Delete:\n%s", found)
	}
}

// requireDbusTools skips unless the Secret Service test tools are here.
func requireDbusTools(t *testing.T) {
	t.Helper()
	requireSecretService(t)
	for _, tool := range []string{"dbus-run-session", "gnome-keyring-daemon"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: apt-get install -y --no-install-recommends gnome-keyring dbus", tool)
		}
	}
}

// A session bus that cannot start a Secret Service: the real
// "org.freedesktop.secrets was not provided" from go-keyring, explained.
func TestSecretServiceMissingProvider(t *testing.T) {
	requireDbusTools(t)
	dir := t.TempDir()
	// A session bus with no service directories: nothing can be activated.
	conf := filepath.Join(dir, "bus.conf")
	err := os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=`+dir+`</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	msg := runChildUnder(t, []string{"dbus-run-session", "--config-file=" + conf, "--"}, "check", dir)
	if !strings.HasPrefix(msg, "UNAVAILABLE ") || !strings.Contains(msg, "no Secret Service (org.freedesktop.secrets) on it") {
		t.Errorf("error = %q, want the no-Secret-Service explanation", msg)
	}
}

// A gnome-keyring that was never unlocked, with no desktop to prompt. By
// environment it either refuses ("failed to unlock correct collection") or
// waits for a prompt nobody answers (measured: with a fresh keyring home it
// waits): either way the user gets the explanation, not a hang.
func TestSecretServiceLocked(t *testing.T) {
	requireDbusTools(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	// The bus activates gnome-keyring on the first call, as on a server.
	wrapper := []string{"dbus-run-session", "--"}
	// A fresh keyring home: no login keyring exists, so nothing is unlocked.
	msg := runChildUnder(t, wrapper, "check", dir, "XDG_DATA_HOME="+data, childEnv+"_TIMEOUT=2s")
	if !strings.HasPrefix(msg, "UNAVAILABLE ") ||
		!(strings.Contains(msg, "the keyring is locked") || strings.Contains(msg, "did not answer within 2s")) {
		t.Errorf("error = %q, want the locked-keyring or timeout explanation", msg)
	}
}
