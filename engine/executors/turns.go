package executors

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/work"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/providers"
)

// RecordsTurns says whether an llm step's conversation is recorded turn by
// turn (see Model): it has tools or a schema, so it may take more than
// one call.
func RecordsTurns(l *flowspec.LLMStep) bool {
	return l != nil && (len(l.Tools) > 0 || len(l.MCP) > 0 || l.Schema != nil)
}

// resume finds the conversation this attempt holds: the step's last one,
// from its records, when no failed attempt closed it and it was asked the
// same; else a new one, numbered after it.
func (c *conversation) resume(ctx context.Context) error {
	c.number = 1
	if !RecordsTurns(c.l) {
		return nil
	}
	loop, ok := c.sink.(work.Loop)
	if !ok {
		loop = &memLoop{}
	}
	c.loop, c.key = loop, conversationKey(c.req)
	recs, err := loop.LoadTurns(ctx)
	if err != nil {
		return fmt.Errorf("cannot read the turns recorded so far: %w", err)
	}
	last, open := 0, false
	for _, r := range recs {
		if r.Conversation > last {
			last, open = r.Conversation, r.Key == c.key
		}
		if r.Conversation == last && r.Ended != nil {
			open = false
		}
	}
	if !open {
		c.number = last + 1
		return nil
	}
	c.number = last
	c.saved.Store(true)
	c.turns = recorded(recs, last)
	if len(c.turns) > 0 {
		c.answered = c.models[modelAt(c.models, c.turns[0])]
		// Later turns go to the model that answered the last one.
		c.models = c.models[modelAt(c.models, c.turns[len(c.turns)-1]):]
	}
	return nil
}

// modelAt is where in models (as the step names them) the model that
// answered turn t is; 0 when none is seen to be.
func modelAt(models []string, t *runstore.Turn) int {
	return max(0, slices.IndexFunc(models, func(m string) bool { return m != "" && (m == t.Alias || m == t.Model) }))
}

// recorded rebuilds conversation n's turns from its records: the turns
// from the first on, up to the first without a model record, each with
// the results its tool calls have.
func recorded(recs []*runstore.TurnRecord, n int) []*runstore.Turn {
	var turns []*runstore.Turn
	for _, r := range recs {
		if r.Conversation != n {
			continue
		}
		switch {
		case r.Call == 0 && r.Model != nil && r.Turn == len(turns)+1:
			t := *r.Model
			t.ToolCalls = slices.Clone(t.ToolCalls)
			turns = append(turns, &t)
		case r.Call > 0 && r.Tool != nil && r.Turn >= 1 && r.Turn <= len(turns):
			if calls := turns[r.Turn-1].ToolCalls; r.Call <= len(calls) {
				calls[r.Call-1] = *r.Tool
			}
		}
	}
	return turns
}

// save writes one record of the conversation; nothing for one not kept.
func (c *conversation) save(ctx context.Context, r *runstore.TurnRecord) error {
	if c.loop == nil {
		return nil
	}
	r.Conversation, r.Key = c.number, c.key
	if err := c.loop.SaveTurn(ctx, r); err != nil {
		return err
	}
	c.saved.Store(true)
	return nil
}

// close records that the attempt holding the conversation failed with
// err, so that the step's retry starts anew; not when the run stopped it
// or its budget held it back, for a resume continues it then.
func (c *conversation) close(ctx context.Context, err error) {
	stopped := ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded)
	if !c.saved.Load() || stopped || errors.Is(err, work.ErrBudgetSpent) {
		return
	}
	msg := c.sink.Mask(err.Error())
	_ = c.save(ctx, &runstore.TurnRecord{Ended: &msg}) // unwritten, the retry continues it: no worse
}

// list is the turns as a record lists them.
func (c *conversation) list() []runstore.Turn {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]runstore.Turn, 0, len(c.turns))
	for _, t := range c.turns {
		out = append(out, *t)
	}
	return out
}

// conversationKey identifies a conversation by its first request: records
// made for another (other inputs, another upstream output) are not
// continued.
func conversationKey(req providers.Request) string {
	req.Temperature, req.MaxTokens = nil, 0
	raw, _ := json.Marshal(req)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:12])
}

// memLoop keeps a conversation's records in memory, for a sink without a
// store behind it (an executor's own tests): its tool calls run one at a
// time.
type memLoop struct {
	mu   sync.Mutex
	recs []*runstore.TurnRecord
}

func (m *memLoop) LoadTurns(context.Context) ([]*runstore.TurnRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.recs), nil
}

func (m *memLoop) SaveTurn(_ context.Context, r *runstore.TurnRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append(m.recs, r)
	return nil
}

func (m *memLoop) Parallel(ctx context.Context, fns []func()) {
	for _, fn := range fns {
		if ctx.Err() != nil {
			return
		}
		fn()
	}
}
