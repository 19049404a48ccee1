package filestore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

// childEnv, when set, turns the test binary into a child process that does
// one job (named by the variable) and then sleeps until killed: a lease
// held by another process, as another kitaru holds it.
const childEnv = "KITARU_FILESTORE_TEST_CHILD"

func TestMain(m *testing.M) {
	if job := os.Getenv(childEnv); job != "" {
		if err := runChild(job); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChild does the job a parent test asked for, on run $KITARU_TEST_RUN of
// the data directory $KITARU_HOME.
func runChild(job string) error {
	home, id := os.Getenv("KITARU_HOME"), os.Getenv("KITARU_TEST_RUN")
	switch job {
	case "lease":
		// Hold the run's lease until killed.
		if _, err := New(home).Acquire(context.Background(), id, runstore.Holder{Host: "child"}, 0); err != nil {
			return err
		}
	case "oldlock":
		// Hold the run's lock as kitaru did before leases: flocked,
		// holding the bare pid.
		f, err := os.OpenFile(filepath.Join(home, "runs", id, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		if err := tryLock(f); err != nil {
			return err
		}
		if err := f.Truncate(0); err != nil {
			return err
		}
		if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
			return err
		}
	case "delete":
		return deleteAndDie(home, id, os.Getenv("KITARU_TEST_POINT"))
	default:
		return fmt.Errorf("unknown child job %q", job)
	}
	fmt.Println("locked")
	time.Sleep(time.Hour)
	return nil
}

// startChild starts the test binary as a child doing job on run id of the
// data directory home, and waits until it holds the run's lock. The child
// is killed when the test ends.
func startChild(t *testing.T, job, home, id string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+job, "KITARU_HOME="+home, "KITARU_TEST_RUN="+id)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "locked") {
			go func() {
				for sc.Scan() {
				}
			}()
			return cmd
		}
	}
	t.Fatalf("child %s ended before it held the lock", job)
	return nil
}
