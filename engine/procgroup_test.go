//go:build unix

package engine

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
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
	if n, err := stopGroup(pgid, start+1); n != 0 || err != nil {
		t.Fatalf("a group with another leader: stopped %d (%v)", n, err)
	}
	if live := groupMembers(pgid, start); len(live) != 3 {
		t.Fatalf("a group with another leader was touched: %v live", live)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }() // reap, as init reaps orphans
	n, err := stopGroup(pgid, start)
	if err != nil || n != 3 {
		t.Fatalf("stopGroup = %d, %v; want 3 stopped", n, err)
	}
	<-done
	if live := groupMembers(pgid, start); len(live) != 0 {
		t.Fatalf("still live: %v", live)
	}
	if n, err := stopGroup(pgid, start); n != 0 || err != nil {
		t.Fatalf("a group that is gone: %d, %v", n, err)
	}
}
