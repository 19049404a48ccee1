package engine

import (
	"context"
	"sync"
)

// logQueue hands a run's log lines to the store from a goroutine of its
// own, in the order they came: a command's output is never held up by
// the store (a database restarting, a table locked, a slow disk), which
// would stall the command writing it, and lines that come together go
// in one append. The log is for people (a crash may lose its last
// lines); what is queued is in the store once close returns.
type logQueue struct {
	ctx    context.Context
	st     Store
	id     string
	mu     sync.Mutex
	lines  []LogLine
	closed bool
	wake   chan struct{}
	done   chan struct{}
}

func newLogQueue(ctx context.Context, st Store, id string) *logQueue {
	q := &logQueue{ctx: ctx, st: st, id: id, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go q.loop()
	return q
}

// add queues lines; once the queue is closed they are written at once.
func (q *logQueue) add(lines ...LogLine) {
	if len(lines) == 0 {
		return
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		_ = q.st.AppendLog(q.ctx, q.id, lines...)
		return
	}
	q.lines = append(q.lines, lines...)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *logQueue) loop() {
	defer close(q.done)
	for range q.wake {
		q.mu.Lock()
		batch, closed := q.lines, q.closed
		q.lines = nil
		q.mu.Unlock()
		if len(batch) > 0 {
			_ = q.st.AppendLog(q.ctx, q.id, batch...)
		}
		if closed {
			q.mu.Lock()
			left := len(q.lines)
			q.mu.Unlock()
			if left == 0 {
				return
			}
		}
	}
}

// close writes what is queued and stops the queue's goroutine.
func (q *logQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	<-q.done
}

// appendLog adds lines to the run's log through its queue.
func (x *execution) appendLog(lines ...LogLine) {
	if x.logs == nil {
		_ = x.st.AppendLog(x.sc, x.meta.ID, lines...)
		return
	}
	x.logs.add(lines...)
}
