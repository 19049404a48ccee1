//go:build unix

package executors

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// What a resume stops must be the group recorded, not a later group that
// was given the same number: the leader's start time tells them apart.
func TestStopGroupOnlyStopsTheGroupRecorded(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc")
	}
	cmd := exec.Command("sh", "-c", "sleep 30 & sleep 30; wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() {
		syscall.Kill(-pgid, syscall.SIGKILL)
		cmd.Wait()
	})
	start := procStart(pgid)
	if start == 0 {
		t.Fatal("no start time for a live process")
	}
	waitFor(t, func() bool { return len(groupMembers(pgid, start)) == 3 })
	if n, err := stopGroup(context.Background(), pgid, start+1); n != 0 || err != nil {
		t.Fatalf("a group with another leader: stopped %d (%v)", n, err)
	}
	if live := groupMembers(pgid, start); len(live) != 3 {
		t.Fatalf("a group with another leader was touched: %v live", live)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }() // reap, as init reaps orphans
	n, err := stopGroup(context.Background(), pgid, start)
	if err != nil || n != 3 {
		t.Fatalf("stopGroup = %d, %v; want 3 stopped", n, err)
	}
	<-done
	if live := groupMembers(pgid, start); len(live) != 0 {
		t.Fatalf("still live: %v", live)
	}
	if n, err := stopGroup(context.Background(), pgid, start); n != 0 || err != nil {
		t.Fatalf("a group that is gone: %d, %v", n, err)
	}
}

// A stop (Ctrl-C) while a leftover group is given its grace must not wait
// the grace out: the group is killed at once and the wait ends with ctx.
func TestStopGroupEndsWithCtx(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc")
	}
	// Deaf to SIGTERM: only SIGKILL or the end of the grace ends it.
	cmd := exec.Command("sh", "-c", "trap '' TERM; sleep 30 & wait; wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	})
	start := procStart(pgid)
	waitFor(t, func() bool { return len(groupMembers(pgid, start)) == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	_, err := stopGroup(ctx, pgid, start)
	if took := time.Since(t0); took > leftoverGrace/2 {
		t.Errorf("stopGroup took %s after its ctx ended; want it to return at once", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("stopGroup = %v; want the ctx's end", err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the group was not killed when the wait was cut short")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("gave up waiting")
}
