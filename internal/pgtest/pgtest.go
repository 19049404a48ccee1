// Package pgtest starts throwaway PostgreSQL servers for tests: a cluster
// made by initdb in a temporary directory, started by pg_ctl on a free
// loopback port, and removed when the test ends. No Docker, no server the
// machine keeps: only the server binaries (Debian's postgresql package).
//
// Tests skip, saying why, when no binaries are found. KITARU_TEST_PG_BIN
// names their directory when they are not where Debian puts them.
package pgtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is one running cluster. Its database "kitaru" is empty at start;
// connect as user "kitaru" (trust authentication, loopback only) or with
// a password-checked role made by the test.
type Server struct {
	bin  string
	dir  string // the cluster's data directory
	port int
	// asUser runs the server commands as an unprivileged user when the
	// tests run as root (initdb refuses root).
	asUser *user.User
	mu     sync.Mutex
	up     bool
}

// Start makes a cluster for t and starts it; it is stopped and removed
// when t ends. It skips t when no server binaries exist.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := findBin()
	if err != nil {
		t.Skipf("no PostgreSQL server to test against: %v (install Debian's postgresql package, or set KITARU_TEST_PG_BIN)", err)
	}
	s, err := start(bin)
	if err != nil {
		t.Fatalf("starting a throwaway PostgreSQL: %v", err)
	}
	t.Cleanup(s.remove)
	return s
}

// Shared is one server for a whole test binary: TestMain calls it and
// Close at the end. It returns nil (and why) when no binaries exist.
func Shared() (*Server, string) {
	bin, err := findBin()
	if err != nil {
		return nil, fmt.Sprintf("no PostgreSQL server to test against: %v", err)
	}
	s, err := start(bin)
	if err != nil {
		return nil, fmt.Sprintf("starting a throwaway PostgreSQL: %v", err)
	}
	return s, ""
}

// Close stops the server and removes its cluster.
func (s *Server) Close() { s.remove() }

// URL is a connection URL for the server's database "kitaru" as user
// "kitaru".
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://kitaru@127.0.0.1:%d/kitaru?sslmode=disable", s.port)
}

// DatabaseURL is the URL of another database on the server, made on first
// use: tests that must not see each other's tables take one each.
func (s *Server) DatabaseURL(t testing.TB, name string) string {
	t.Helper()
	if err := s.psql("postgres", "CREATE DATABASE "+quoteIdent(name)+" OWNER kitaru"); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("creating database %s: %v", name, err)
	}
	return fmt.Sprintf("postgres://kitaru@127.0.0.1:%d/%s?sslmode=disable", s.port, name)
}

// Port is the port the server listens on.
func (s *Server) Port() int { return s.port }

// SQL runs statements as the superuser in database db (tests use it to
// make roles, fill disks or break things).
func (s *Server) SQL(t testing.TB, db, sql string) {
	t.Helper()
	if err := s.psql(db, sql); err != nil {
		t.Fatalf("psql: %v", err)
	}
}

// Stop stops the server (fast shutdown: connections are dropped, as in a
// restart by an operator); Restart starts it again on the same port.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.stop("fast"); err != nil {
		t.Fatalf("stopping PostgreSQL: %v", err)
	}
}

// Kill stops the server at once, as a crash would (immediate shutdown).
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	if err := s.stop("immediate"); err != nil {
		t.Fatalf("killing PostgreSQL: %v", err)
	}
}

func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.startServer(); err != nil {
		t.Fatalf("restarting PostgreSQL: %v", err)
	}
}

func findBin() (string, error) {
	if d := os.Getenv("KITARU_TEST_PG_BIN"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			return "", fmt.Errorf("KITARU_TEST_PG_BIN=%s: %w", d, err)
		}
		return d, nil
	}
	// Through links: a machine may link initdb alone onto PATH, and pg_ctl
	// and psql are beside the real one.
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), "psql")); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(dirs) == 0 {
		return "", fmt.Errorf("initdb is not on PATH nor under /usr/lib/postgresql")
	}
	// The newest version first.
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	return filepath.Dir(dirs[0]), nil
}

func version(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

func start(bin string) (*Server, error) {
	s := &Server{bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			return nil, fmt.Errorf("running as root, and no unprivileged user to run the server as: %w", err)
		}
		s.asUser = u
	}
	dir, err := os.MkdirTemp("", "kitaru-pgtest-")
	if err != nil {
		return nil, err
	}
	s.dir = filepath.Join(dir, "data")
	if s.asUser != nil {
		uid, _ := strconv.Atoi(s.asUser.Uid)
		gid, _ := strconv.Atoi(s.asUser.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	if out, err := s.command(filepath.Join(bin, "initdb"), "-D", s.dir, "-U", "kitaru", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.port = port
	// Tuned for tests, not for keeping data: no fsync would hide nothing
	// kitaru does (its commits still wait for the server), and keeps a
	// loaded machine's disk out of the timings.
	conf := fmt.Sprintf("port = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\nfsync = off\nfull_page_writes = off\nmax_connections = 200\nlog_min_messages = warning\n", port, filepath.Dir(s.dir))
	f, err := os.OpenFile(filepath.Join(s.dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteString(conf)
		f.Close()
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.startServer(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.psql("postgres", "CREATE DATABASE kitaru OWNER kitaru"); err != nil {
		s.remove()
		return nil, err
	}
	return s, nil
}

func (s *Server) startServer() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	out, err := s.command(filepath.Join(s.bin, "pg_ctl"), "-D", s.dir, "-l", filepath.Join(filepath.Dir(s.dir), "server.log"), "-w", "-t", "60", "start").CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(filepath.Dir(s.dir), "server.log"))
		return fmt.Errorf("pg_ctl start: %w: %s%s", err, out, log)
	}
	s.up = true
	return nil
}

func (s *Server) stop(mode string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.up {
		return nil
	}
	out, err := s.command(filepath.Join(s.bin, "pg_ctl"), "-D", s.dir, "-m", mode, "-w", "-t", "60", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %w: %s", err, out)
	}
	s.up = false
	return nil
}

func (s *Server) remove() {
	_ = s.stop("immediate")
	os.RemoveAll(filepath.Dir(s.dir))
}

func (s *Server) psql(db, sql string) error {
	cmd := s.command(filepath.Join(s.bin, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", strconv.Itoa(s.port), "-U", "kitaru", "-d", db, "-c", sql)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%w: %s", err, strings.TrimSpace(out.String()))
		}
		return nil
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		return fmt.Errorf("psql did not finish in a minute: %s", out.String())
	}
}

// command runs a server binary, as the unprivileged user when needed.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PGTZ=UTC")
	if s.asUser != nil {
		runAs(cmd, s.asUser)
		cmd.Dir = "/"
		cmd.Env = append(cmd.Env, "HOME="+filepath.Dir(s.dir))
	}
	return cmd
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
