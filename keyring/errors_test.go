package keyring

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gokeyring "github.com/zalando/go-keyring"
)

// assertPlainExplanation checks that err is the one explanation a user
// gets for an unusable keyring, with the given reason.
func assertPlainExplanation(t *testing.T, err error, configDir, reason string) {
	t.Helper()
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("error = %v, want one wrapping ErrUnavailable", err)
	}
	msg := err.Error()
	for _, want := range []string{
		reason,
		"dbus-run-session -- sh -c 'echo -n PASSWORD | gnome-keyring-daemon --unlock --components=secrets; kitaru ...'",
		"OPENAI_API_KEY",
		"export KITARU_SECRETS_BACKEND=file",
		filepath.Join(configDir, "secrets.file.json"),
		"NOT encrypted",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("explanation lacks %q:\n%s", want, msg)
		}
	}
}

// The library errors, exactly as go-keyring v0.2.8 / godbus v5.2.2 print
// them on this kind of machine.
var libraryErrors = []struct {
	lib    string
	reason string
}{
	{`exec: "dbus-launch": executable file not found in $PATH`, "there is no D-Bus session bus"},
	{`dbus: couldn't determine address of session bus`, "there is no D-Bus session bus"},
	{`The name org.freedesktop.secrets was not provided by any .service files`, "no Secret Service (org.freedesktop.secrets) on it"},
	{`failed to unlock correct collection '/org/freedesktop/secrets/aliases/default'`, "the keyring is locked"},
	{`dial unix /tmp/nope: connect: no such file or directory`, "DBUS_SESSION_BUS_ADDRESS cannot be reached"},
	{`dbus: invalid bus address (invalid or unsupported transport)`, "does not hold a usable D-Bus address"},
	{`org.freedesktop.DBus.Error.NoReply: something odd`, "the keyring failed: org.freedesktop.DBus.Error.NoReply"},
}

func TestTranslate(t *testing.T) {
	dir := "/cfg/kitaru"
	for _, tc := range libraryErrors {
		t.Run(tc.lib, func(t *testing.T) {
			err := translate(errors.New(tc.lib), dir)
			assertPlainExplanation(t, err, dir, tc.reason)
			if errors.Is(err, ErrNotFound) {
				t.Errorf("an unreachable keyring must not look like a missing secret")
			}
		})
	}
	if err := translate(gokeyring.ErrNotFound, dir); err != ErrNotFound {
		t.Errorf("translate(not found) = %v", err)
	}
	if err := translate(gokeyring.ErrSetDataTooBig, dir); err == nil || errors.Is(err, ErrUnavailable) {
		t.Errorf("translate(too big) = %v, want a plain error", err)
	}
	if translate(nil, dir) != nil {
		t.Errorf("translate(nil) != nil")
	}
}

// Every Store operation that reaches the keyring reports its failures the
// same way; List, which reads only the index, keeps working.
func TestStoreOperationsExplainUnavailable(t *testing.T) {
	for _, tc := range libraryErrors {
		t.Run(tc.lib, func(t *testing.T) {
			s := mockStore(t)
			if _, err := s.Set("kept", map[string]string{"K": "v"}); err != nil {
				t.Fatal(err)
			}
			gokeyring.MockInitWithError(errors.New(tc.lib))
			_, err := s.Set("new", map[string]string{"K": "v"})
			assertPlainExplanation(t, err, s.configDir, tc.reason)
			_, err = s.Get("kept")
			assertPlainExplanation(t, err, s.configDir, tc.reason)
			assertPlainExplanation(t, s.Delete("kept"), s.configDir, tc.reason)
			assertPlainExplanation(t, s.Check(), s.configDir, tc.reason)
			if list, err := s.List(); err != nil || len(list) != 1 || list[0].Name != "kept" {
				t.Errorf("List = %v, %v; want [kept] from the index", list, err)
			}
		})
	}
}

func TestCheckReachable(t *testing.T) {
	s := mockStore(t)
	if err := s.Check(); err != nil {
		t.Errorf("Check over a working keyring = %v", err)
	}
}

// The tests below use the real go-keyring and godbus, which keep
// process-wide state (the mock provider, a cached bus connection): each
// runs its operation in a fresh child process.

const childEnv = "KITARU_KEYRING_CHILD"

// TestKeyringChild is the child side; it does nothing in a normal run.
func TestKeyringChild(t *testing.T) {
	op := os.Getenv(childEnv)
	if op == "" {
		t.Skip("helper process for the tests that need a fresh go-keyring")
	}
	timeout, _ := time.ParseDuration(os.Getenv(childEnv + "_TIMEOUT"))
	s, err := Open(Options{Backend: BackendOS, ConfigDir: os.Getenv(childEnv + "_DIR"), Timeout: timeout})
	if err == nil {
		switch op {
		case "check":
			err = s.Check()
		case "set":
			_, err = s.Set("child", map[string]string{"K": "v"})
		case "get-twice":
			// The second call must not wait out the timeout again; the
			// parent's guard would catch a hang, the message tells.
			_, err = s.Get("child")
			if err != nil {
				_, err2 := s.Get("child")
				if !errors.Is(err2, ErrUnavailable) || err2.Error() != err.Error() {
					err = fmt.Errorf("second call: %v", err2)
				}
			}
		}
	}
	msg := "<nil>"
	if err != nil {
		msg = err.Error()
		if errors.Is(err, ErrUnavailable) {
			msg = "UNAVAILABLE " + msg
		}
	}
	fmt.Printf("CHILD-RESULT %s\n", strconv.Quote(msg))
}

// runChild runs op in a child process with env added and returns the
// error text it got.
func runChild(t *testing.T, op, dir string, env ...string) string {
	t.Helper()
	return runChildUnder(t, nil, op, dir, env...)
}

// runChildUnder is runChild with the child started by a wrapper command
// (such as dbus-run-session), which gets the child's command line last.
func runChildUnder(t *testing.T, wrapper []string, op, dir string, env ...string) string {
	t.Helper()
	// A guard against a hang, not a timing assertion.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	argv := append(slices.Clone(wrapper), os.Args[0], "-test.run=^TestKeyringChild$", "-test.count=1")
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), childEnv+"="+op, childEnv+"_DIR="+dir, "KITARU_TEST_SECRET_SERVICE=")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child process: %v\n%s", err, out)
	}
	_, quoted, ok := strings.Cut(string(out), "CHILD-RESULT ")
	if !ok {
		t.Fatalf("child printed no result:\n%s", out)
	}
	quoted, _, _ = strings.Cut(quoted, "\n")
	msg, err := strconv.Unquote(quoted)
	if err != nil {
		t.Fatalf("child result %s: %v", quoted, err)
	}
	return msg
}

func TestUnreachableBusIsExplained(t *testing.T) {
	dir := t.TempDir()
	msg := runChild(t, "check", dir, "DBUS_SESSION_BUS_ADDRESS=unix:path="+filepath.Join(dir, "no-such-socket"))
	if !strings.HasPrefix(msg, "UNAVAILABLE ") {
		t.Fatalf("error = %q, want one wrapping ErrUnavailable", msg)
	}
	for _, want := range []string{"cannot be reached", "dbus-run-session", "KITARU_SECRETS_BACKEND=file", "OPENAI_API_KEY"} {
		if !strings.Contains(msg, want) {
			t.Errorf("explanation lacks %q:\n%s", want, msg)
		}
	}
}

// A bus that accepts the connection and then never answers stands for a
// desktop prompt nobody clicks: kitaru must give up after its timeout.
func TestStuckBusTimesOut(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "bus")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	msg := runChild(t, "set", dir, "DBUS_SESSION_BUS_ADDRESS=unix:path="+sock, childEnv+"_TIMEOUT=300ms")
	if !strings.HasPrefix(msg, "UNAVAILABLE ") || !strings.Contains(msg, "did not answer within 300ms") {
		t.Errorf("error = %q, want the timeout explanation", msg)
	}
	msg = runChild(t, "get-twice", dir, "DBUS_SESSION_BUS_ADDRESS=unix:path="+sock, childEnv+"_TIMEOUT=300ms")
	if !strings.HasPrefix(msg, "UNAVAILABLE ") || !strings.Contains(msg, "did not answer within 300ms") {
		t.Errorf("error = %q, want the timeout explanation twice", msg)
	}
	if _, err := os.Stat(filepath.Join(dir, indexName)); err == nil {
		t.Errorf("a failed Set wrote the index")
	}
}

// Without any session bus kitaru says so, and does not run dbus-launch
// (which, with dbus-x11 installed, would leave a bus daemon behind).
func TestNoSessionBusDoesNotAutolaunch(t *testing.T) {
	if missingSessionBus() == "" && os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		t.Skip("this machine has a discoverable session bus in /run/user")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	marker := filepath.Join(dir, "dbus-launch-ran")
	if err := os.Mkdir(bin, 0o700); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\ntouch '" + marker + "'\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "dbus-launch"), []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	msg := runChild(t, "check", dir, "DBUS_SESSION_BUS_ADDRESS=", "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	if !strings.HasPrefix(msg, "UNAVAILABLE ") || !strings.Contains(msg, "there is no D-Bus session bus") {
		t.Errorf("error = %q, want the no-bus explanation", msg)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("dbus-launch was run")
	}
}

// DBUS_SESSION_BUS_ADDRESS=disabled: is how a caller turns the bus off;
// kitaru says so without calling into go-keyring.
func TestDisabledBus(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "disabled:")
	dir := t.TempDir()
	s, err := Open(Options{Backend: BackendOS, ConfigDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	assertPlainExplanation(t, s.Check(), dir, "the D-Bus session bus is turned off")
}
