package filestore

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
)

// The runs' index, runs/.index, spares Query reading every run.json: for
// each run it keeps what a query filters and sorts by (flow, status,
// start), beside the size and modification time of the run.json it was
// read from. An entry is used only while run.json still has that size and
// time (a record is replaced by a rename, which gives it a new time), so
// an index that another process did not update, or that a crash left
// behind, is never wrong, only less useful: what it lacks or holds stale
// is read again, and Query writes it anew. An index that is missing or
// cannot be read is rebuilt the same way. It is written beside and renamed
// into place, never synced: after a power loss it may be gone or empty,
// which is a rebuild. One part of an entry is used without that check: a
// run's start, which is written once, when the run is created (see
// queryByStart).

const (
	indexName   = ".index"
	indexHeader = "kitaru runs index 1"
	// indexRacy: a run.json changed this recently is not put in the index.
	// A file system's clock is coarse (a tick of a few ms, a second or two
	// on some), so a run.json replaced twice within one tick, to the same
	// size, would keep its time; one older than this has settled.
	indexRacy = 2 * time.Second
)

type indexEntry struct {
	mtime   int64 // run.json's modification time, ns
	size    int64
	started int64 // the run's start, ns since 1970 (UTC)
	status  runstore.RunStatus
	flow    string
}

func (s *Store) indexPath() string { return filepath.Join(s.root, indexName) }

// readIndex reads the index; nil when there is none or it cannot be used.
func (s *Store) readIndex() map[string]indexEntry {
	data, err := os.ReadFile(s.indexPath())
	if err != nil {
		return nil
	}
	idx, ok := parseIndex(data)
	if !ok {
		return nil
	}
	return idx
}

// parseIndex reads the lines "id mtime size started status flow" (flow
// quoted) between the header and "end N", N the count of lines: a file cut
// short is refused whole. It is read on every query, so by hand.
func parseIndex(data []byte) (map[string]indexEntry, bool) {
	text := string(data)
	head, rest, ok := strings.Cut(text, "\n")
	if !ok || head != indexHeader {
		return nil, false
	}
	idx := make(map[string]indexEntry, strings.Count(rest, "\n"))
	for rest != "" {
		line, more, ok := strings.Cut(rest, "\n")
		if !ok {
			return nil, false
		}
		rest = more
		if n, ok := strings.CutPrefix(line, "end "); ok {
			want, err := strconv.Atoi(n)
			return idx, err == nil && want == len(idx) && rest == ""
		}
		var f [5]string
		for i := range f {
			sp := strings.IndexByte(line, ' ')
			if sp < 0 {
				return nil, false
			}
			f[i], line = line[:sp], line[sp+1:]
		}
		var e indexEntry
		var errs [3]error
		e.mtime, errs[0] = strconv.ParseInt(f[1], 10, 64)
		e.size, errs[1] = strconv.ParseInt(f[2], 10, 64)
		e.started, errs[2] = strconv.ParseInt(f[3], 10, 64)
		st, known := runStatuses[f[4]]
		flow, ferr := unquoteFlow(line)
		if !validID(f[0]) || errs[0] != nil || errs[1] != nil || errs[2] != nil || !known || ferr != nil {
			return nil, false
		}
		e.status, e.flow = st, flow
		idx[f[0]] = e
	}
	return nil, false
}

var runStatuses = map[string]runstore.RunStatus{}

func init() {
	for _, st := range []runstore.RunStatus{runstore.RunRunning, runstore.RunWaiting, runstore.RunCompleted, runstore.RunFailed, runstore.RunCancelled, runstore.RunInterrupted} {
		if knownRunStatus(st) {
			runStatuses[string(st)] = st
		}
	}
}

// unquoteFlow reads a quoted flow name: as it is when nothing in it was
// escaped (the usual name), by strconv otherwise.
func unquoteFlow(q string) (string, error) {
	if len(q) >= 2 && q[0] == '"' && q[len(q)-1] == '"' && !strings.ContainsAny(q[1:len(q)-1], `"\\`) {
		return q[1 : len(q)-1], nil
	}
	return strconv.Unquote(q)
}

// writeIndex replaces the index with idx, leaving out the entries of a
// run.json changed within indexRacy of now. A failure is no error: the
// next query reads what the index lacks.
func (s *Store) writeIndex(idx map[string]indexEntry, now time.Time) {
	var b bytes.Buffer
	b.WriteString(indexHeader + "\n")
	n := 0
	settled := now.Add(-indexRacy).UnixNano()
	for id, e := range idx {
		if e.mtime > settled {
			continue
		}
		fmt.Fprintf(&b, "%s %d %d %d %s %s\n", id, e.mtime, e.size, e.started, e.status, strconv.Quote(e.flow))
		n++
	}
	fmt.Fprintf(&b, "end %d\n", n)
	tmp, err := os.CreateTemp(s.root, indexName+".tmp-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b.Bytes())
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), s.indexPath()) != nil {
		_ = os.Remove(tmp.Name())
	}
}

// sweepIndexTemp removes a temporary index its writer left (it died
// between writing and renaming it).
func (s *Store) sweepIndexTemp(e os.DirEntry) {
	if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > time.Minute {
		_ = os.Remove(filepath.Join(s.root, e.Name()))
	}
}
