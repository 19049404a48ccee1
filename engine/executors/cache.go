package executors

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/work"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/providers"
)

// cacheKeyVersion is part of every key: a change to what a key covers
// changes it, so no answer is taken for a request it was not made for.
const cacheKeyVersion = 1

// keyDoc is what a cache key hashes: where the call goes (the resolved
// provider/model and the base URL its client is given, not the alias
// that named it nor the headers or key sent) and the whole request as the
// step made it, model name aside: messages, temperature, max_tokens,
// schema and whatever else a request says (tools). Tools is a digest of
// what the offered tools do (their commands, expressions, env): the
// request names and describes them only, and an answer reached with a
// tool since edited was built on results it would no longer give.
type keyDoc struct {
	V       int               `json:"v"`
	Model   string            `json:"model"`
	BaseURL string            `json:"base_url"`
	Request providers.Request `json:"request"`
	Tools   string            `json:"tools,omitempty"`
}

// cacheKey is the key of req sent to model m (as the step names it), and
// where it goes; ok is false when such a call cannot be cached: its caller
// cannot say where it goes, or a mock answers it.
func cacheKey(c providers.Caller, req providers.Request, m, tools string) (key string, t providers.Target, ok bool) {
	req.Model = m
	t, ok = providers.TargetOf(c, req)
	if !ok {
		return "", t, false
	}
	req.Model = ""
	b, err := json.Marshal(keyDoc{V: cacheKeyVersion, Model: t.Model, BaseURL: t.BaseURL, Request: req, Tools: tools})
	if err != nil {
		return "", t, false
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), t, true
}

// stepCache is an llm unit's use of the cache; nil when the step does not
// cache (or the run has no cache).
type stepCache struct {
	c      work.Cache
	u      *work.Unit
	caller providers.Caller
	req    providers.Request // the first call's request
	tools  string            // flowspec.ToolsDigest of the offered tools
	cfg    flowspec.Cache
}

func cacheFor(u *work.Unit, caller providers.Caller, req providers.Request, tools string) *stepCache {
	if u.Cache == nil || !u.Step.LLM.Cache.On {
		return nil
	}
	req.Messages = append([]providers.Message(nil), req.Messages...) // the conversation grows later
	return &stepCache{c: u.Cache, u: u, caller: caller, req: req, tools: tools, cfg: u.Step.LLM.Cache}
}

// answer is the unit's result from the cache: the answer the step's first
// model gave this request in an earlier run, with no call and no cost;
// ok is false on a miss. With a model list only the first model's request
// is looked up (see flowspec's doc).
func (sc *stepCache) answer(ctx context.Context, models []string, sink work.Sink) (*work.Result, bool) {
	if sc == nil {
		return nil, false
	}
	key, t, ok := cacheKey(sc.caller, sc.req, models[0], sc.tools)
	if !ok {
		return nil, false
	}
	e, gerr := sc.c.Get(ctx, key, sc.cfg.TTL)
	if gerr != nil {
		sink.Log(fmt.Sprintf("the cache of answers could not be read, so the model is called: %s", gerr))
		return nil, false
	}
	if e == nil {
		return nil, false
	}
	l := sc.u.Step.LLM
	var out any
	if l.Schema != nil {
		v, bad := checkAnswer(l.Schema, e.Text)
		if bad != nil {
			return nil, false // cannot happen for a key that holds the schema; call again
		}
		out = sink.MaskValue(v)
	} else if v, err := sink.Output(e.Text); err == nil {
		out = v
	} else {
		return nil, false // nor this: output: json was checked when it was kept
	}
	writePrompt(sink, sc.caller, sc.req, models)
	sink.Log(fmt.Sprintf("answer cached from %s (step %s%s): no call made", e.Run, e.Step, itemText(e.Item)))
	zero := 0.0
	src := *e
	src.Text = ""
	return &work.Result{Output: out, Model: e.Model, Alias: t.Alias, Credential: providers.CredentialNone, Cost: &zero, Cached: &src}, true
}

func itemText(item *int) string {
	if item == nil {
		return ""
	}
	return fmt.Sprintf(", item %d", *item)
}

// keep records an accepted answer (masked, as the step records it) under
// the key of the request its first call sent to the model that answered
// it. Mocked answers are not kept.
func (sc *stepCache) keep(ctx context.Context, model string, res *work.Result, text string, sink work.Sink) {
	if sc == nil || res.Mock {
		return
	}
	key, _, ok := cacheKey(sc.caller, sc.req, model, sc.tools)
	if !ok {
		return
	}
	e := &runstore.CacheEntry{Run: sc.u.RunID, Step: sc.u.Step.ID, Item: sc.u.Item, Text: text,
		Model: res.Model, Usage: res.Usage, CostUSD: res.Cost}
	if err := sc.c.Put(ctx, key, e); err != nil {
		sink.Log(fmt.Sprintf("the answer could not be kept in the cache: %s", err))
	}
}
