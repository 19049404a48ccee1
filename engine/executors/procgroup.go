//go:build unix

package executors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/work"
)

// A step's command runs in a process group of its own. While it runs, the
// step directory holds a file naming that group and when its leader
// started: if kitaru dies without stopping it (kill -9, the OOM killer),
// the group lives on as an orphan, and a resume that runs the step again
// first stops what is left of it, so the two never run side by side.
// A machine crash needs no file: the orphans die with it. Telling the
// recorded group from a later one needs /proc (Linux); elsewhere nothing
// is stopped.

// leftoverGrace is how long what is left of a previous attempt gets to end
// after SIGTERM before SIGKILL.
var leftoverGrace = time.Second

// runGroup is cmd.Run for a command started in a process group of its own
// (Setpgid), noting the group where the sink says while it runs. What a
// dead kitaru left running of this unit's previous attempt is stopped
// first.
func runGroup(ctx context.Context, cmd *exec.Cmd, u *work.Unit, sink work.Sink) error {
	p := sink.ProcessRecord()
	if err := stopLeftover(ctx, p, sink); err != nil {
		err.run = u.RunID
		return err
	}
	pipes, err := pipeStdio(cmd)
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		pipes.abandon()
		return err
	}
	pipes.started()
	pid := cmd.Process.Pid
	if p != "" {
		// Not synced: it only has to outlive this process, not the
		// machine. The step's directory may not be there yet; the store
		// makes it durable when it records the step.
		rec := []byte(strconv.Itoa(pid) + " " + strconv.FormatUint(procStart(pid), 10) + "\n")
		if os.WriteFile(p, rec, 0o600) != nil && os.MkdirAll(filepath.Dir(p), 0o700) == nil {
			_ = os.WriteFile(p, rec, 0o600)
		}
	}
	// Wait returns when the command's main process ends (its stdio are
	// files, so Wait does not wait for their copying). What it left
	// running in its group (`sleep 100 &`) is killed then: a step leaves
	// nothing behind, and its output ends with its main process. The
	// group cannot have been given to another since: a group's number is
	// not reused while a member lives, and an empty group is not touched.
	err = cmd.Wait()
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	cut := !pipes.wait(cmd.WaitDelay)
	if p != "" {
		_ = os.Remove(p)
	}
	if err == nil && cut {
		// What still held the output was outside the group (setsid).
		return exec.ErrWaitDelay
	}
	return err
}

// stdio are the pipes runGroup gives a command in place of the writers and
// reader of exec.Cmd, whose copying Wait would wait for (as long as a
// background child holds them) before the group could be killed.
type stdio struct {
	child  []*os.File // the ends the command gets, closed here once it started
	reads  []*os.File // the ends copied from (stdout, stderr)
	copies sync.WaitGroup
	fed    chan struct{} // stdin is written, or given up on
	stdin  *os.File
}

// pipeStdio replaces cmd's stdout, stderr and stdin that are not files with
// pipes, copied in goroutines started at once.
func pipeStdio(cmd *exec.Cmd) (*stdio, error) {
	s := &stdio{fed: make(chan struct{})}
	for _, w := range []*io.Writer{&cmd.Stdout, &cmd.Stderr} {
		if *w == nil {
			continue
		}
		if _, ok := (*w).(*os.File); ok {
			continue
		}
		r, pw, err := os.Pipe()
		if err != nil {
			s.abandon()
			return nil, err
		}
		dst := *w
		*w = pw
		s.child, s.reads = append(s.child, pw), append(s.reads, r)
		s.copies.Add(1)
		go func() {
			defer s.copies.Done()
			_, _ = io.Copy(dst, r) // ends at EOF, or when wait gives up and closes r
		}()
	}
	src := cmd.Stdin
	if _, isFile := src.(*os.File); src == nil || isFile {
		close(s.fed)
		return s, nil
	}
	pr, w, err := os.Pipe()
	if err != nil {
		s.abandon()
		return nil, err
	}
	cmd.Stdin = pr
	s.child, s.stdin = append(s.child, pr), w
	go func() {
		defer close(s.fed)
		// A command that does not read it all fails the write (EPIPE,
		// not SIGPIPE: this is not fd 1) once its group is gone.
		_, _ = io.Copy(w, src)
		_ = w.Close()
	}()
	return s, nil
}

// started closes the command's ends of the pipes here: each reads EOF once
// the processes that hold them are gone.
func (s *stdio) started() {
	for _, f := range s.child {
		_ = f.Close()
	}
}

// abandon closes every pipe of a command that did not start.
func (s *stdio) abandon() {
	s.started()
	for _, f := range s.reads {
		_ = f.Close()
	}
	if s.stdin != nil {
		_ = s.stdin.Close()
	}
	s.copies.Wait()
	<-s.fed
}

// wait waits up to grace for the output to be copied to its end; false
// when it was not and was cut there (something outside the group still
// held it).
func (s *stdio) wait(grace time.Duration) bool {
	done := make(chan struct{})
	go func() { s.copies.Wait(); close(done) }()
	whole := true
	select {
	case <-done:
	case <-time.After(grace):
		whole = false
		for _, f := range s.reads {
			_ = f.Close()
		}
		<-done
	}
	for _, f := range s.reads {
		_ = f.Close()
	}
	select {
	case <-s.fed:
	case <-time.After(grace):
		_ = s.stdin.Close() // what still reads it is not ours to wait for
		<-s.fed
	}
	return whole
}

// stopLeftover stops the process group noted at p, if it still has live
// members and is the one noted (not a later group given the same number),
// and says so in the log and the events.
func stopLeftover(ctx context.Context, p string, sink work.Sink) *leftoverError {
	pgid, n, err := stopRecorded(ctx, p)
	if err != nil {
		return &leftoverError{pgid: pgid, err: err}
	}
	if n == 0 {
		return nil
	}
	sink.Log(fmt.Sprintf("stopped what was left running of its previous attempt before running it again: process group %d (%d processes), orphaned when the kitaru running it died", pgid, n))
	sink.LeftoverStopped(pgid)
	return nil
}

// stopRecorded stops the group a group file names and removes the file
// once nothing of the group is left; n is how many processes were stopped.
func stopRecorded(ctx context.Context, p string) (pgid, n int, err error) {
	if p == "" {
		return 0, 0, nil
	}
	data, err := readRegular(p)
	if err != nil {
		return 0, 0, nil // the usual case: no previous attempt was left running
	}
	var start uint64
	if _, err := fmt.Sscan(string(data), &pgid, &start); err != nil || pgid <= 1 {
		_ = os.Remove(p)
		return 0, 0, nil
	}
	if n, err = stopGroup(ctx, pgid, start); err != nil {
		return pgid, 0, err
	}
	_ = os.Remove(p)
	return pgid, n, nil
}

// StopLeftovers stops what a dead kitaru left running of any step of a run
// that is ending without running again (cancelled while nobody held it):
// no resume will stop it. dirs are the places the steps' process records
// are in (ProcessRecord's directory), by step.
func StopLeftovers(ctx context.Context, dirs map[string]string) []Leftover {
	var out []Leftover
	for step, dir := range dirs {
		for _, g := range groupFiles(dir) {
			pgid, n, err := stopRecorded(ctx, filepath.Join(dir, g.name))
			if err != nil || n > 0 {
				out = append(out, Leftover{Step: step, Item: g.item, PGID: pgid, N: n, Err: err})
			}
		}
	}
	return out
}

// LeftoversNoted says whether any of dirs notes a process group (alive or
// not): what StopLeftovers would look at. Looking is cheaper than taking
// what stopping needs (a run's lease).
func LeftoversNoted(dirs map[string]string) bool {
	for _, dir := range dirs {
		if len(groupFiles(dir)) > 0 {
			return true
		}
	}
	return false
}

// groupFile is a group file of a step directory: "pgid" for the step's
// command, "pgid-N" for item N's.
type groupFile struct {
	name string
	item *int
}

func groupFiles(dir string) []groupFile {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []groupFile
	for _, ent := range ents {
		name := ent.Name()
		var item *int
		if rest, ok := strings.CutPrefix(name, "pgid-"); ok {
			i, err := strconv.Atoi(rest)
			if err != nil {
				continue
			}
			item = &i
		} else if name != "pgid" {
			continue
		}
		out = append(out, groupFile{name, item})
	}
	return out
}

// stopGroup ends the live members of process group pgid whose leader
// started at start (clock ticks since boot; 0: unknown): SIGTERM, then
// SIGKILL after leftoverGrace. It returns how many there were. When ctx
// ends first (Ctrl-C while it waits) the group gets SIGKILL at once and is
// not waited for: the group file stays, so the next go checks again.
func stopGroup(ctx context.Context, pgid int, start uint64) (int, error) {
	members := groupMembers(pgid, start)
	if len(members) == 0 {
		return 0, nil
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		if err := syscall.Kill(-pgid, sig); err != nil {
			if errors.Is(err, syscall.ESRCH) {
				return len(members), nil
			}
			return 0, fmt.Errorf("cannot be stopped (%v)", err)
		}
		// Each look reads all of /proc: often enough to go on soon after
		// the group ends, not so often that the look is the work.
		tick := time.NewTicker(25 * time.Millisecond)
		deadline := time.NewTimer(leftoverGrace)
		graceOver := false
		for !graceOver {
			select {
			case <-ctx.Done():
				tick.Stop()
				deadline.Stop()
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				return 0, fmt.Errorf("was not seen to end: %w", ctx.Err())
			case <-deadline.C:
				graceOver = true
			case <-tick.C:
				if len(groupMembers(pgid, start)) == 0 {
					tick.Stop()
					deadline.Stop()
					return len(members), nil
				}
			}
		}
		tick.Stop()
	}
	return 0, errors.New("is still running after SIGKILL")
}

// groupMembers lists the live (not zombie) processes of group pgid, or
// none when the group is not the one whose leader started at start. They
// are read in /proc (Linux); without it (start is then 0 too) a group
// cannot be told from a later one given the same number, so none is
// touched.
func groupMembers(pgid int, start uint64) []int {
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil || len(stats) == 0 || start == 0 {
		return nil
	}
	var live []int
	for _, p := range stats {
		st, ok := readProcStat(p)
		if !ok || st.pgrp != pgid {
			continue
		}
		// The group is ours only if its leader is the one recorded, or,
		// with the leader gone, if nobody in it is older than the leader
		// was (a pid is not reused while its group lives).
		if st.pid == pgid && st.start != start || st.start < start {
			return nil
		}
		if st.state != "Z" {
			live = append(live, st.pid)
		}
	}
	return live
}

type procStat struct {
	pid, pgrp int
	state     string
	start     uint64
}

// readProcStat parses /proc/PID/stat: "pid (comm) state ppid pgrp ...",
// starttime being field 22; comm may hold spaces and parentheses.
func readProcStat(p string) (procStat, bool) {
	b, err := os.ReadFile(p)
	if err != nil {
		return procStat{}, false
	}
	s := string(b)
	lp, rp := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if lp < 0 || rp < lp {
		return procStat{}, false
	}
	f := strings.Fields(s[rp+1:])
	if len(f) < 20 {
		return procStat{}, false
	}
	pid, err1 := strconv.Atoi(strings.TrimSpace(s[:lp]))
	pgrp, err2 := strconv.Atoi(f[2])
	start, err3 := strconv.ParseUint(f[19], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return procStat{}, false
	}
	return procStat{pid: pid, pgrp: pgrp, state: f[0], start: start}, true
}

// procStart is when process pid started (0 when /proc cannot tell).
func procStart(pid int) uint64 {
	st, _ := readProcStat("/proc/" + strconv.Itoa(pid) + "/stat")
	return st.start
}

// readRegular reads a group file, refusing (without blocking on it) one
// that is not a regular file, such as a named pipe put in its place.
func readRegular(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return io.ReadAll(f)
}

// leftoverError is a previous attempt's process group that could not be
// stopped: the unit does not run beside it.
type leftoverError struct {
	pgid int
	err  error
	run  string
}

func (e *leftoverError) Error() string {
	return fmt.Sprintf("what was left of its previous attempt (process group %d, orphaned when the kitaru running it died) %v", e.pgid, e.err)
}

func (e *leftoverError) Unwrap() error { return e.err }

// Remedy: it must be stopped by hand before the run can go on.
func (e *leftoverError) Remedy() *runstore.Remedy {
	return &runstore.Remedy{Do: runstore.RemedyStopThenRetry, Run: e.run}
}

// ownGroup starts cmd in a process group of its own, which a stop or a
// timeout kills whole: everything the command started goes with it.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

// deathSignal is the signal a command died of, if it did.
func deathSignal(err error) (syscall.Signal, bool) {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			return st.Signal(), true
		}
	}
	return 0, false
}

// A run's stdio MCP servers note their process groups in the run's
// directory, as a step's command does in the step's: a server whose
// kitaru was killed, and that lives on despite its stdin closing and (on
// Linux) its parent-death signal, is stopped when the run next goes on or
// is cancelled.

// MCPRecord is where server of the run whose directory is dir notes its
// process group while it runs.
func MCPRecord(dir, server string) string { return filepath.Join(dir, "mcp-"+server+".pgid") }

// NoteGroup notes at p the process group pid leads, for a later go to
// stop (not synced: it only has to outlive this process).
func NoteGroup(p string, pid int) {
	_ = os.WriteFile(p, []byte(strconv.Itoa(pid)+" "+strconv.FormatUint(procStart(pid), 10)+"\n"), 0o600)
}

// StopMCPLeftovers stops what of the MCP servers noted in dir (a run's
// directory) a killed kitaru left running.
func StopMCPLeftovers(ctx context.Context, dir string) []Leftover {
	paths, _ := filepath.Glob(MCPRecord(dir, "*"))
	var out []Leftover
	for _, p := range paths {
		server := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "mcp-"), ".pgid")
		pgid, n, err := stopRecorded(ctx, p)
		if err != nil || n > 0 {
			out = append(out, Leftover{MCP: server, PGID: pgid, N: n, Err: err})
		}
	}
	return out
}
