// Package temporaltest starts a real Temporal server for tests, in a
// process of its own: the helper command of internal/temporalserver (a
// module of its own, so the server's dependencies stay out of kitaru's),
// built with the go command on first use. No Docker, nothing the machine
// keeps: the server holds its state in memory and stops with the test.
//
// Tests skip, saying why, when the helper cannot be built (no go command,
// or its modules cannot be had).
package temporaltest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is the helper's stderr, written by the process's copier
// and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Server is one running Temporal server.
type Server struct {
	Address   string // host:port of its frontend
	Namespace string // a namespace registered on it
}

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// build builds the helper once per test binary, into the user's cache
// (kept there: the next test binary only links it again).
func build() (string, error) {
	buildOnce.Do(func() {
		_, file, _, ok := runtime.Caller(0)
		if !ok {
			buildErr = fmt.Errorf("cannot tell where the helper's source is")
			return
		}
		src := filepath.Join(filepath.Dir(file), "..", "temporalserver")
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir := filepath.Join(cache, "kitaru-test")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			buildErr = err
			return
		}
		// Built beside its final name, then renamed onto it: test
		// processes building at once each leave a whole binary, and one
		// stays in the cache (a later build is a link).
		out := filepath.Join(dir, "temporalserver")
		tmp := fmt.Sprintf("%s.%d", out, os.Getpid())
		cmd := exec.Command("go", "build", "-o", tmp, ".")
		cmd.Dir = src
		if msg, err := cmd.CombinedOutput(); err != nil {
			_ = os.Remove(tmp)
			buildErr = fmt.Errorf("go build in %s: %v: %s", src, err, strings.TrimSpace(string(msg)))
			return
		}
		if buildErr = os.Rename(tmp, out); buildErr != nil {
			_ = os.Remove(tmp)
			return
		}
		binary = out
	})
	return binary, buildErr
}

// Start starts a server for t, stopped when t ends. It skips t when the
// helper cannot be built.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := build()
	if err != nil {
		t.Skipf("no Temporal server to test against: %v", err)
	}
	cmd := exec.Command(bin)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the Temporal server: %v", err)
	}
	t.Cleanup(func() {
		// Its stdin closing stops it; a kill if it does not.
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		for sc.Scan() {
		}
	}()
	select {
	case l, ok := <-line:
		addr, ns, found := strings.Cut(l, " ")
		if !ok || !found {
			t.Fatalf("the Temporal server did not start: %s", stderr.String())
		}
		return &Server{Address: addr, Namespace: ns}
	case <-time.After(2 * time.Minute):
		t.Fatalf("the Temporal server did not start within 2 minutes: %s", stderr.String())
	}
	return nil
}
