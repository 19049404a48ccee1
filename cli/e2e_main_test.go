package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/internal/mcptest"
)

// End-to-end tests run the real kitaru binary as a subprocess, each with its
// own KITARU_HOME and XDG_CONFIG_HOME. The binary is built once per test
// process, the first time a test asks for it, so unit-test runs that do not
// need it do not pay for the build. Other cli tests may use kitaruBinary and
// newE2E too.

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	mcptest.Main() // the test binary as a stdio MCP server, for the flows of the tests
	if signal.Ignored(os.Interrupt) {
		// Started with SIGINT ignored (a background job of a script):
		// kitaru would inherit that and rightly ignore the SIGINTs the
		// tests send. Catching it here gives the binaries the tests start
		// the default disposition again (exec resets caught signals).
		signal.Notify(make(chan os.Signal, 1), os.Interrupt)
	}
	code := m.Run()
	if pgServer != nil {
		pgServer.Close()
	}
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// kitaruBinary builds the binary (once) and returns its path.
func kitaruBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "kitaru-e2e-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "kitaru")
		cmd := exec.Command("go", "build", "-o", binPath, "..")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out.String())
		}
	})
	if binErr != nil {
		t.Fatalf("cannot build kitaru: %v", binErr)
	}
	return binPath
}

// e2e is one isolated kitaru installation: its own state and config dirs
// and a work dir for flows and counter files.
type e2e struct {
	t    testing.TB
	bin  string
	Home string // KITARU_HOME
	Cfg  string // XDG_CONFIG_HOME
	Dir  string // where the test writes flows and counters
	Env  []string
}

func newE2E(t testing.TB) *e2e {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the end-to-end tests use sh and POSIX signals")
	}
	root := t.TempDir()
	e := &e2e{t: t, bin: kitaruBinary(t),
		Home: filepath.Join(root, "home"), Cfg: filepath.Join(root, "config"), Dir: filepath.Join(root, "work")}
	for _, d := range []string{e.Home, e.Cfg, e.Dir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// A clean environment: nothing from the developer's machine leaks in
	// (no real API keys, no registry, no session bus).
	e.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + root,
		"KITARU_HOME=" + e.Home,
		"XDG_CONFIG_HOME=" + e.Cfg,
		"XDG_DATA_HOME=" + filepath.Join(root, "data"),
		"NO_COLOR=1",
		"DBUS_SESSION_BUS_ADDRESS=disabled:",
	}
	return e
}

// setenv adds or replaces an environment variable of later commands.
func (e *e2e) setenv(k, v string) {
	for i, kv := range e.Env {
		if strings.HasPrefix(kv, k+"=") {
			e.Env[i] = k + "=" + v
			return
		}
	}
	e.Env = append(e.Env, k+"="+v)
}

// result is what a finished kitaru process left.
type result struct {
	Stdout, Stderr string
	Code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.Code, r.Stdout, r.Stderr)
}

func (e *e2e) command(args ...string) *exec.Cmd {
	cmd := exec.Command(e.bin, args...)
	cmd.Env = e.Env
	cmd.Dir = e.Dir
	return cmd
}

// run runs kitaru to the end.
func (e *e2e) run(args ...string) result {
	e.t.Helper()
	cmd := e.command(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		e.t.Fatalf("kitaru %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// must runs kitaru and fails the test unless it exits with code.
func (e *e2e) must(code int, args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.Code != code {
		e.t.Fatalf("kitaru %s: want exit %d, got %s", strings.Join(args, " "), code, r)
	}
	return r
}

// write puts a file into the work dir and returns its path.
func (e *e2e) write(name, content string) string {
	e.t.Helper()
	p := filepath.Join(e.Dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// count reads a counter file the flow's steps append one line to per run.
func (e *e2e) count(name string) int {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.Dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// waitFor polls until cond holds; it gives up after a generous bound so a
// broken build fails instead of hanging, and is not a timing assertion.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestE2EHelpHasExamples(t *testing.T) {
	e := newE2E(t)
	for _, cmd := range [][]string{
		{"run"}, {"replay"}, {"resume"}, {"retry"}, {"input"},
		{"executions", "list"}, {"executions", "get"}, {"executions", "logs"}, {"executions", "cancel"},
		{"executions", "replay"}, {"executions", "resume"}, {"executions", "retry"}, {"executions", "input"},
		{"executions", "delete"}, {"executions", "prune"}, {"executions", "diff"},
	} {
		r := e.must(0, append(cmd, "--help")...)
		if !strings.Contains(r.Stdout, "kitaru "+cmd[len(cmd)-1]) && !strings.Contains(r.Stdout, "kitaru "+strings.Join(cmd, " ")) {
			t.Errorf("kitaru %s --help shows no example:\n%s", strings.Join(cmd, " "), r.Stdout)
		}
	}
}
