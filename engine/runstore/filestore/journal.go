package filestore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/internal/fsutil"
)

// A journal and a log are append-only files of lines; a line's number (from
// 1, counting only lines that read) is its Seq. A reader that asks for the
// lines after the ones it last read starts where that read stopped, so a
// follower reads only what is new.

// tail is an appended file's size after this process last appended to it,
// and how many lines it then held: the next append numbers on from there
// unless someone else appended meanwhile (the size differs).
type tail struct {
	size  int64
	lines int64
}

// readPos is where a read of an appended file stopped: after line seq, at
// byte off, in a file of size at least off.
type readPos struct {
	seq int64
	off int64
}

// AppendEvents adds events to journal.jsonl, each numbered. The journal
// is synced when the run's lease is released (see Release), not at each
// event: the records events tell of are synced on their own.
func (s *Store) AppendEvents(ctx context.Context, id string, evs ...runstore.Event) error {
	if len(evs) == 0 {
		return nil
	}
	p := filepath.Join(s.RunDir(id), "journal.jsonl")
	return s.appendLines(id, p, true, func(next int64) ([]byte, int64, error) {
		var b bytes.Buffer
		for i := range evs {
			ev := evs[i]
			ev.Seq = next + int64(i) // its place in the file, written for people
			line, err := json.Marshal(&ev)
			if err != nil {
				return nil, 0, fmt.Errorf("cannot encode a journal event: %w", err)
			}
			b.Write(line)
			b.WriteByte('\n')
		}
		return b.Bytes(), int64(len(evs)), nil
	})
}

// Events reads the journal's events after seq `after`; unreadable lines
// become warnings.
func (s *Store) Events(ctx context.Context, id string, after int64, limit int) ([]runstore.Event, []string, error) {
	if err := s.exists(id); err != nil {
		return nil, nil, err
	}
	p := filepath.Join(s.RunDir(id), "journal.jsonl")
	var evs []runstore.Event
	var warns []string
	err := s.readLines(p, after, func(seq int64, ln []byte) error {
		if limit > 0 && len(evs) == limit {
			return errStop
		}
		var e runstore.Event
		if err := json.Unmarshal(ln, &e); err != nil {
			warns = append(warns, fmt.Sprintf("%s: skipped unreadable journal line %d (a crash while writing it leaves one): %v", p, seq, err))
			return nil
		}
		e.Seq = seq
		evs = append(evs, e)
		return nil
	})
	return evs, warns, err
}

// AppendLog adds lines to log.txt, each "<time> <step>[#item] <text>".
// Not synced: the log is for people, and a crash may lose its last lines.
func (s *Store) AppendLog(ctx context.Context, id string, lines ...runstore.LogLine) error {
	var b strings.Builder
	for _, l := range lines {
		step := l.Step
		if step == "" {
			step = "-"
		}
		if l.Item != nil {
			step += "#" + strconv.Itoa(*l.Item)
		}
		b.WriteString(l.Time.UTC().Format(time.RFC3339Nano) + " " + step + " " + strings.ReplaceAll(l.Text, "\n", " ") + "\n")
	}
	p := filepath.Join(s.RunDir(id), "log.txt")
	return s.appendLines(id, p, false, func(int64) ([]byte, int64, error) {
		return []byte(b.String()), int64(len(lines)), nil
	})
}

// Logs reads log.txt's lines after seq `after`.
func (s *Store) Logs(ctx context.Context, id string, after int64) ([]runstore.LogLine, error) {
	if err := s.exists(id); err != nil {
		return nil, err
	}
	var out []runstore.LogLine
	err := s.readLines(filepath.Join(s.RunDir(id), "log.txt"), after, func(seq int64, ln []byte) error {
		if l, ok := parseLogLine(string(ln)); ok {
			l.Seq = seq
			out = append(out, l)
		}
		return nil
	})
	return out, err
}

func parseLogLine(ln string) (runstore.LogLine, bool) {
	parts := strings.SplitN(ln, " ", 3)
	if len(parts) < 2 {
		return runstore.LogLine{}, false
	}
	var l runstore.LogLine
	l.Time, _ = time.Parse(time.RFC3339Nano, parts[0])
	step := parts[1]
	if i := strings.LastIndexByte(step, '#'); i >= 0 {
		if n, err := strconv.Atoi(step[i+1:]); err == nil {
			l.Item = &n
			step = step[:i]
		}
	}
	if step != "-" {
		l.Step = step
	}
	if len(parts) == 3 {
		l.Text = parts[2]
	}
	return l, true
}

// errStop ends a read early.
var errStop = errors.New("stop")

// readLines calls fn for each line of p numbered after `after` (without its
// newline). Every whole line that is not blank takes the next number,
// whether fn can read it or not, so numbers never shift; a last line
// without its newline is still being written (or torn) and is not read
// yet. A read for the lines after the ones the last read ended with
// starts where that read stopped.
func (s *Store) readLines(p string, after int64, fn func(seq int64, ln []byte) error) error {
	_, err := s.readLinesTo(p, after, fn)
	return err
}

// readLinesTo is readLines, returning the number of the last line read.
func (s *Store) readLinesTo(p string, after int64, fn func(seq int64, ln []byte) error) (int64, error) {
	f, err := openRegular(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("cannot read %s: %w", p, err)
	}
	defer f.Close()
	seq, off := int64(0), int64(0)
	s.mu.Lock()
	pos, ok := s.readAt[p]
	s.mu.Unlock()
	if st, err := f.Stat(); ok && after >= pos.seq && err == nil && st.Size() >= pos.off {
		seq, off = pos.seq, pos.off
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return 0, fmt.Errorf("cannot read %s: %w", p, err)
	}
	// Sized for the file (a new run's journal is small), up to 64 KiB.
	bufSize := 64 * 1024
	if st, err := f.Stat(); err == nil && st.Size()-off < int64(bufSize) {
		bufSize = max(int(st.Size()-off), 16)
	}
	r := bufio.NewReaderSize(f, bufSize)
	journal := filepath.Base(p) == "journal.jsonl"
	for {
		ln, err := r.ReadBytes('\n')
		// A journal's last line without its newline is read if it is a
		// whole event (a crash just before the newline): the next append
		// completes it, numbering it as this read does. Anything else may
		// still be being written.
		whole := len(ln) > 0 && (ln[len(ln)-1] == '\n' || journal && err == io.EOF && json.Valid(ln))
		if whole {
			off += int64(len(ln))
			if body := bytes.TrimRight(ln, "\r\n"); len(bytes.TrimSpace(body)) > 0 {
				seq++
				if seq > after {
					if ferr := fn(seq, body); ferr == errStop {
						return seq, nil // stopped early: the position is not kept
					} else if ferr != nil {
						return seq, ferr
					}
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return seq, fmt.Errorf("cannot read %s: %w", p, err)
		}
	}
	s.mu.Lock()
	s.readAt[p] = readPos{seq: seq, off: off}
	s.mu.Unlock()
	return seq, nil
}

// appendLines appends whole lines to an append-only file; make gets the
// number the first new line takes and returns the bytes and how many
// lines they are. The first time this process writes to the file it
// checks the file ends with a newline: a crash or a full disk can leave a
// torn last line. In the journal the torn line is repaired, as a
// write-ahead log does: completed when it is a whole event that lacks only
// its newline, cut off otherwise. In the log (text for people) it is kept
// and the next line starts on a line of its own. A write cut short here is
// taken back at once.
//
// While this process holds run id's lease the file stays open, appended
// to under a lock of its own (see appender); otherwise it is opened for
// the append, under appendMu.
func (s *Store) appendLines(id, p string, journal bool, build func(first int64) ([]byte, int64, error)) error {
	var f *os.File
	a := s.appenderOf(id, p)
	if a != nil {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.closed {
			a = nil // the lease went meanwhile
		}
	}
	if a != nil {
		if a.f == nil {
			var err error
			if a.f, err = openAppend(p); err != nil {
				return err
			}
		}
		f = a.f
	} else {
		s.appendMu.Lock()
		defer s.appendMu.Unlock()
		var err error
		if f, err = openAppend(p); err != nil {
			return err
		}
		defer f.Close()
	}
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("cannot open %s: %w", p, err)
	}
	size := st.Size()
	s.mu.Lock()
	healed := s.healed[p]
	s.healed[p] = true
	s.mu.Unlock()
	sep := false
	if !healed && size > 0 {
		var last [1]byte
		if _, err := f.ReadAt(last[:], size-1); err == nil && last[0] != '\n' {
			if !journal || repairTail(f, size) != nil {
				sep = true
			}
			if st, err := f.Stat(); err == nil {
				size = st.Size()
			}
		}
	}
	s.mu.Lock()
	t, known := s.tails[p]
	s.mu.Unlock()
	switch {
	case size == 0:
		t = tail{} // a new file: nothing to count
	case !known || t.size != size:
		n, err := s.countLines(p)
		if err != nil {
			return err
		}
		t = tail{size: size, lines: n}
	}
	// A torn line that the separator completes takes a number too.
	first := t.lines + 1
	if sep {
		first++
	}
	data, n, err := build(first)
	if err != nil {
		return err
	}
	if sep {
		data = append([]byte{'\n'}, data...)
	}
	if w, err := f.Write(data); err != nil {
		if w > 0 {
			_ = f.Truncate(size)
		}
		s.mu.Lock()
		s.healed[p] = false // check the tail again next time
		delete(s.tails, p)
		s.mu.Unlock()
		return fmt.Errorf("cannot append to %s: %w", p, err)
	}
	s.mu.Lock()
	s.tails[p] = tail{size: size + int64(len(data)), lines: first - 1 + n}
	s.mu.Unlock()
	return nil
}

// openAppend opens a run's journal or log to append to it, refusing a
// link or anything but a regular file put in its place, as the lock is
// (an append through a link would grow the file it points to).
func openAppend(p string) (*os.File, error) {
	f, err := openRunFile(p, os.O_RDWR|os.O_APPEND|os.O_CREATE, filepath.Base(p))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("run %s: %w", filepath.Base(filepath.Dir(p)), runstore.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", p, err)
	}
	return f, nil
}

// appender is a journal or log of a run this process holds the lease of:
// kept open until the lease is released (opening and closing it at every
// event and log line was a visible part of each unit's time, and one lock
// for every file made parallel units wait for each other's lines).
type appender struct {
	mu     sync.Mutex
	f      *os.File // nil until the first append
	closed bool     // the lease was released: append as to any other run
}

// leasedHere says whether this process holds a lease on run id.
func (s *Store) leasedHere(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leasedLocked(id)
}

// leasedLocked is leasedHere with s.mu held.
func (s *Store) leasedLocked(id string) bool {
	for _, h := range s.leases {
		if h.run == id {
			return true
		}
	}
	return false
}

// appenderOf is the appender of file p of run id, nil when this process
// holds no lease on the run.
func (s *Store) appenderOf(id, p string) *appender {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.leasedLocked(id) {
		return nil
	}
	a := s.appenders[p]
	if a == nil {
		a = &appender{}
		s.appenders[p] = a
	}
	return a
}

// countLines is how many lines of p are numbered, as readLines numbers
// them (what this read found, not what another read left behind).
func (s *Store) countLines(p string) (int64, error) {
	return s.readLinesTo(p, 1<<62, func(int64, []byte) error { return nil })
}

// repairTail mends the torn last line of a journal of size bytes.
func repairTail(f *os.File, size int64) error {
	start, err := lastLineStart(f, size)
	if err != nil {
		return err
	}
	tail := make([]byte, size-start)
	if _, err := f.ReadAt(tail, start); err != nil {
		return err
	}
	var ev runstore.Event
	if json.Unmarshal(tail, &ev) == nil {
		_, err = f.Write([]byte{'\n'})
		return err
	}
	return f.Truncate(start)
}

// lastLineStart is the offset just after the last newline of the first
// size bytes of f (0 when there is none), read backwards in blocks.
func lastLineStart(f *os.File, size int64) (int64, error) {
	buf := make([]byte, 32*1024)
	for end := size; end > 0; {
		n := min(int64(len(buf)), end)
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return end - n + int64(i) + 1, nil
		}
		end -= n
	}
	return 0, nil
}

// syncJournal makes run id's journal, log and the directories of its
// artifacts (see syncDirLater) durable, all together, and closes the
// journal and log when they were kept open (see appender): the lease that
// kept them is being let go.
func (s *Store) syncJournal(id string) error {
	syncs := s.laterSyncs(id)
	for _, name := range []string{"journal.jsonl", "log.txt"} {
		p := filepath.Join(s.RunDir(id), name)
		s.mu.Lock()
		a := s.appenders[p]
		delete(s.appenders, p)
		s.mu.Unlock()
		var f *os.File
		if a != nil {
			a.mu.Lock()
			f, a.f, a.closed = a.f, nil, true
			a.mu.Unlock()
		}
		syncs = append(syncs, func() error {
			var err error
			if f == nil {
				f, err = os.OpenFile(p, os.O_RDWR, 0)
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
			}
			if err == nil {
				err = f.Sync()
				f.Close()
			}
			if err != nil {
				return fmt.Errorf("cannot sync %s: %w", p, err)
			}
			return nil
		})
	}
	return fsutil.Together(syncs...)
}

// laterSyncs are the syncs left for run id's release: of the directories
// its artifacts were written into (see syncDirLater) and run.json's.
func (s *Store) laterSyncs(id string) []func() error {
	s.mu.Lock()
	dirs := s.unsynced[id]
	delete(s.unsynced, id)
	s.mu.Unlock()
	syncs := make([]func() error, 0, len(dirs)+2)
	for dir := range dirs {
		syncs = append(syncs, func() error { return fsutil.SyncDir(dir) })
	}
	return syncs
}

// syncDirLater has dir, where an entry of run id was made or renamed,
// synced when the run's lease is released: once for every entry made in
// it until then.
func (s *Store) syncDirLater(id, dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dirs := s.unsynced[id]
	if dirs == nil {
		dirs = map[string]bool{}
		s.unsynced[id] = dirs
	}
	dirs[dir] = true
}
