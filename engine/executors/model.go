package executors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/work"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/internal/humantime"
	"github.com/kitaruhq/kitaru/internal/textcut"
	"github.com/kitaruhq/kitaru/providers"
)

// Model runs an llm step's conversation. Each turn is one model call
// (made to each model of the step's list in order until one answers).
// The tool calls a turn asks for run, those of one turn in parallel, and
// their results go back to the model; an answer that is not JSON or
// breaks the step's schema goes back with what broke it, up to
// schema_retries times; the answer taken ends the conversation, and
// max_turns bounds its turns. Every call is paid for and counted.
//
// A step with tools or a schema records each turn and each tool call
// through the sink's work.Loop the moment it ends, and what is recorded is
// not done again: a resumed conversation continues at the first turn or
// tool call without a record. A failed attempt's conversation is closed
// (a record says so), so the step's retry starts a new one.
type Model struct{}

// Execute holds the step's conversation to its answer.
func (Model) Execute(ctx context.Context, u *work.Unit, sink work.Sink) (*work.Result, error) {
	l := u.Step.LLM
	msgs, err := messagesOf(l, u.Scope)
	if err != nil {
		return nil, err
	}
	caller, err := callerOf(u)
	if err != nil {
		return nil, err
	}
	// Its MCP servers start here, once a model can be called.
	tools, err := offersOf(ctx, u, sink)
	if err != nil {
		return nil, err
	}
	req := providers.Request{Model: l.Model, Messages: msgs, Temperature: l.Temperature, MaxTokens: l.MaxTokens, Tools: tools.tools()}
	if l.Schema != nil {
		req.Schema, req.SchemaName = l.Schema.JSON, u.Step.ID
	}
	models := l.Models()
	cache := cacheFor(u, caller, req, tools.digest(l))
	if res, ok := cache.answer(ctx, models, sink); ok {
		return res, nil
	}
	c := &conversation{u: u, l: l, sink: sink, req: req, models: models, res: &work.Result{}, tools: tools}
	if err := c.resume(ctx); err != nil {
		return nil, err
	}
	if len(c.turns) == 0 {
		writePrompt(sink, caller, req, models)
	}
	out, err := c.run(ctx, caller)
	c.finish()
	if errors.Is(err, errWaiting) {
		// The step waits, as a wait step does; the answers are recorded
		// as the calls' results, and its resume continues the loop.
		c.res.Wait = c.questions()
		return c.res, nil
	}
	if err != nil {
		c.close(ctx, err)
		if c.calls == 0 && len(c.turns) == 0 {
			return nil, err // nothing was called: nothing spent
		}
		return c.res, err // the calls made were paid for
	}
	c.res.Output = out
	cache.keep(ctx, c.answered, c.res, c.turns[len(c.turns)-1].Text, sink)
	return c.res, nil
}

// conversation is one attempt's conversation of an llm step.
type conversation struct {
	u     *work.Unit
	l     *flowspec.LLMStep
	sink  work.Sink
	tools *offers
	// loop keeps the conversation's records; nil for a step with neither
	// tools nor a schema, whose one call its step record says all of.
	loop   work.Loop
	key    string      // see conversationKey
	number int         // of the step's (or item's) conversations, from 1
	saved  atomic.Bool // a record of it was written (tool calls save from goroutines of their own)
	req    providers.Request
	models []string // those still tried: later turns go to the one that answered
	// answered is the model of the list that answered the first call: a
	// cached answer is kept under its request.
	answered string
	res      *work.Result
	calls    int        // model calls this go made
	mu       sync.Mutex // guards the tool calls of turns while they run
	turns    []*runstore.Turn
}

// run goes through the turns, the recorded ones first, and returns the
// output.
func (c *conversation) run(ctx context.Context, caller providers.Caller) (any, error) {
	refused := 0 // answers that broke the schema
	for t := 1; ; t++ {
		fresh := t > len(c.turns)
		if fresh {
			if c.l.MaxTurns > 0 && t > c.l.MaxTurns {
				return nil, c.maxTurns()
			}
			if err := c.call(ctx, caller, t); err != nil {
				return nil, err
			}
		}
		turn := c.turns[t-1]
		if len(turn.ToolCalls) > 0 {
			if c.lastTurn(t) {
				// No turn is left to take their results: running them
				// would be work (and side effects) for nothing.
				return nil, c.maxTurns()
			}
			if err := c.runTools(ctx, t); err != nil {
				return nil, err
			}
			if c.questions() != nil {
				return nil, errWaiting
			}
			c.req.Messages = append(c.req.Messages, c.toolMessages(turn)...)
			continue
		}
		if c.l.Schema == nil {
			return c.sink.Output(turn.Text)
		}
		out, bad := judge(c.l.Schema, turn)
		if bad == nil {
			return c.sink.MaskValue(out), nil
		}
		if refused++; refused > c.l.SchemaRetries {
			return nil, bad.final(refused, c.l.SchemaRetries)
		}
		if fresh {
			c.sink.Log(fmt.Sprintf("its answer %s; asking again (%d of %d)", bad.Error(), refused, c.l.SchemaRetries))
		}
		// The answer as recorded (masked) goes back: the conversation is
		// in the step's artifacts too.
		c.req.Messages = append(c.req.Messages,
			providers.Message{Role: "assistant", Content: turn.Text},
			providers.Message{Role: "user", Content: bad.reask(c.l.Schema)})
	}
}

// call makes turn t's model call and records it.
func (c *conversation) call(ctx context.Context, caller providers.Caller, t int) error {
	name := func(base string) string {
		if t == 1 {
			return base
		}
		return fmt.Sprintf("%s-turn%d", base, t)
	}
	// The first request is prompt.json; what later calls add (the tool
	// results, a request to answer again) is in the turn records, so no
	// artifact repeats it: each would cost a turn a synced write more.
	t0 := time.Now()
	sctx, end := streamed(ctx, c.sink)
	resp, at, failed, err := callModels(sctx, caller, c.req, c.models, c.sink)
	end()
	if err != nil {
		if len(failed) > 0 {
			// The models that gave no answer are listed in the record.
			msg := c.sink.Mask(err.Error())
			c.turns = append(c.turns, &runstore.Turn{Turn: t, Error: &msg, DurationMS: time.Since(t0).Milliseconds(), FailedModels: failed})
		}
		return c.callError(t, err)
	}
	// Later turns go to the model that answered (those before it in the
	// list gave no answer).
	c.models = c.models[at:]
	if t == 1 {
		c.answered = c.models[0]
	}
	c.calls++
	res := c.res
	res.Model, res.Alias, res.Credential, res.Mock = resp.Model, resp.Alias, resp.CredentialSource, resp.Mock
	res.Usage, res.Cost = res.Usage.Add(resp.Usage), providers.AddCost(res.Cost, resp.CostUSD)
	text := c.sink.Mask(resp.Text)
	turn := &runstore.Turn{Turn: t, Model: resp.Model, Alias: resp.Alias, Text: text, DurationMS: resp.Latency.Milliseconds(),
		Usage: resp.Usage, CostUSD: resp.CostUSD, FailedModels: failed}
	calls := resp.ToolCalls
	if len(calls) > 0 && (c.tools == nil || len(c.tools.list) == 0) {
		// Calls of tools nobody offered (a server's own idea): a text
		// beside them is the answer; with none there is no answer.
		if text == "" {
			return fmt.Errorf("the model answered with a call of tool %q instead of text, but the step offers no tools; offer it tools: or change the prompt", calls[0].Name)
		}
		calls = nil
	}
	for i, tc := range calls {
		id := tc.ID
		if id == "" {
			id = fmt.Sprintf("call-%d-%d", t, i+1)
		}
		args := c.sink.Mask(tc.Arguments)
		// Recorded under the flow's name (files.read_file), not the one
		// the model knows (files__read_file).
		turn.ToolCalls = append(turn.ToolCalls, runstore.ToolCall{ID: id, Name: c.tools.nameOf(tc.Name), Arguments: decodedArgs(args), ArgumentsText: args, Pending: !c.lastTurn(t), NotRun: c.lastTurn(t)})
	}
	if text != "" || len(turn.ToolCalls) == 0 {
		c.sink.Artifact(name("response"), ".txt", []byte(text))
	}
	what := "answered"
	if n := len(turn.ToolCalls); n > 0 {
		what = fmt.Sprintf("asked for %d tool call(s)", n)
	}
	line := fmt.Sprintf("model %s %s in %s (%d tokens in, %d out)", resp.Model, what, humantime.Duration(resp.Latency), resp.Usage.InputTokens, resp.Usage.OutputTokens)
	if t > 1 || len(c.tools.list) > 0 {
		line = fmt.Sprintf("turn %d: %s", t, line)
	}
	c.sink.Log(line)
	if len(turn.ToolCalls) == 0 && c.l.Schema != nil {
		judge(c.l.Schema, turn) // the record says why an answer was refused
	}
	c.turns = append(c.turns, turn)
	if err := c.save(ctx, &runstore.TurnRecord{Turn: t, Model: turn}); err != nil {
		return fmt.Errorf("the record of turn %d could not be written: %w", t, err)
	}
	return nil
}

// callError is the error of turn t's call: as it is for the first, and
// saying what the conversation was doing for a later one.
func (c *conversation) callError(t int, err error) error {
	if t == 1 {
		return err
	}
	if prev := c.turns[t-2]; len(prev.ToolCalls) == 0 {
		return fmt.Errorf("asking again for an answer that follows the schema (turn %d): %w", t, err)
	}
	return fmt.Errorf("turn %d of the tool loop: %w", t, err)
}

// lastTurn says whether turn t is the last max_turns allows. The tool
// calls it asks for are not run: no turn is left to take their results.
// (Offering the last turn no tools instead would change the request as
// the conversation goes, and some providers refuse a conversation with
// tool calls in it and no tools.)
func (c *conversation) lastTurn(t int) bool {
	return c.l.MaxTurns > 0 && t >= c.l.MaxTurns
}

// maxTurns is the error of a conversation that used its max_turns.
func (c *conversation) maxTurns() error {
	last := c.turns[len(c.turns)-1]
	if len(last.ToolCalls) > 0 {
		return fmt.Errorf("the model still asked for tools on turn %d, the last its max_turns (%d) allows, so they were not run; raise max_turns, or tell it in the prompt to answer sooner", last.Turn, c.l.MaxTurns)
	}
	why := "was refused"
	if last.Error != nil {
		why = *last.Error
	}
	return fmt.Errorf("the model's answer %s, and its %d turns, its max_turns, are used (asking again for the schema is a turn too); raise max_turns", why, c.l.MaxTurns)
}

// judge checks an answer against the schema and notes on its turn why it
// was refused (nil bad: taken).
func judge(s *flowspec.AnswerSchema, turn *runstore.Turn) (any, *badAnswer) {
	out, bad := checkAnswer(s, turn.Text)
	turn.Error, turn.Pointer = nil, nil
	if bad != nil {
		msg := bad.Error()
		turn.Error = &msg
		if len(bad.violations) > 0 {
			turn.Pointer = &bad.violations[0].Pointer
		}
	}
	return out, bad
}

// finish puts the turns in the result, and the model of the last one when
// this go called none (every turn was recorded before).
func (c *conversation) finish() {
	c.res.Turns = keptTurns(boundTurns(c.list()))
	if c.calls > 0 {
		return
	}
	for i := len(c.turns) - 1; i >= 0; i-- {
		if t := c.turns[i]; t.Model != "" {
			c.res.Model, c.res.Alias = t.Model, t.Alias
			return
		}
	}
}

// keptTurns are the turns a record lists: all of them when there was more
// than one call, a tool call, or a model of the list that gave no answer;
// else none (the step's own fields say it all).
func keptTurns(turns []runstore.Turn) []runstore.Turn {
	if len(turns) > 1 {
		return turns
	}
	for _, t := range turns {
		if len(t.FailedModels) > 0 || len(t.ToolCalls) > 0 {
			return turns
		}
	}
	return nil
}

// messagesOf renders an llm step's system message, prompt and messages.
func messagesOf(l *flowspec.LLMStep, sc *flowspec.Scope) ([]providers.Message, error) {
	var msgs []providers.Message
	if l.System != nil {
		s, err := l.System.Render(sc)
		if err != nil {
			return nil, fmt.Errorf("system: %w", err)
		}
		msgs = append(msgs, providers.Message{Role: "system", Content: s})
	}
	if l.Prompt != nil {
		p, err := l.Prompt.Render(sc)
		if err != nil {
			return nil, fmt.Errorf("prompt: %w", err)
		}
		msgs = append(msgs, providers.Message{Role: "user", Content: p})
	}
	for i, m := range l.Messages {
		c, err := m.Content.Render(sc)
		if err != nil {
			return nil, fmt.Errorf("messages[%d]: %w", i, err)
		}
		msgs = append(msgs, providers.Message{Role: m.Role, Content: c})
	}
	return msgs, nil
}

// callerOf is the unit's model caller: the engine's, else the mock when
// KITARU_LLM_MOCK_RESPONSE is set.
func callerOf(u *work.Unit) (providers.Caller, error) {
	if u.Model != nil {
		return u.Model, nil
	}
	if mock := os.Getenv(providers.EnvMockResponse); mock != "" {
		return providers.Mock{Text: mock}, nil
	}
	return nil, runstore.Advise(errors.New("no provider configured"), runstore.Remedy{Do: runstore.RemedyRegisterModel})
}

// badAnswer is why an answer was not taken: not JSON (parse), or JSON that
// breaks the schema (violations, the first named).
type badAnswer struct {
	parse      error
	text       string // the answer, masked, for the message
	violations []flowspec.Violation
	dup        bool // the violations are keys written twice
}

func (b *badAnswer) Error() string {
	if len(b.violations) == 0 {
		return fmt.Sprintf("is not JSON (%v): %q", b.parse, textcut.Runes(b.text, 200))
	}
	msg := "breaks the schema " + b.violations[0].Error()
	if b.dup {
		msg = "repeats a key " + b.violations[0].Error()
	}
	if n := len(b.violations) - 1; n == 1 {
		msg += " (and in 1 more place)"
	} else if n > 1 {
		msg += fmt.Sprintf(" (and in %d more places)", n)
	}
	return msg
}

// maxReasons bounds the reasons a model is told about one answer.
const maxReasons = 20

// reask is what the model is told about its answer.
func (b *badAnswer) reask(s *flowspec.AnswerSchema) string {
	var what strings.Builder
	if len(b.violations) == 0 {
		what.WriteString("Your answer is not JSON (" + b.parse.Error() + ").")
	} else {
		if b.dup {
			what.WriteString("Your answer writes a key twice in an object, so its value is ambiguous:")
		} else {
			what.WriteString("Your answer does not follow the JSON Schema:")
		}
		for i, v := range b.violations {
			if i == maxReasons {
				fmt.Fprintf(&what, "\n- and %d more", len(b.violations)-i)
				break
			}
			what.WriteString("\n- " + v.Error())
		}
		what.WriteString("\n")
	}
	what.WriteString("Answer again with only the JSON value, following this JSON Schema:\n")
	what.Write(s.JSON)
	return what.String()
}

// final is the step's error once no more asking is allowed.
func (b *badAnswer) final(answers, retries int) error {
	times := "once"
	if answers > 1 {
		times = fmt.Sprintf("%d times", answers)
	}
	return fmt.Errorf("the model's answer %s; it was asked %s (schema_retries: %d)", b.Error(), times, retries)
}

// checkAnswer parses an answer as JSON (within a ```json fence or not) and
// validates it against the step's schema.
func checkAnswer(s *flowspec.AnswerSchema, text string) (any, *badAnswer) {
	body := []byte(Unfenced(text))
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, &badAnswer{parse: err, text: text}
	}
	// A key written twice would be taken as its last value, silently: the
	// model is asked again, as for an answer that breaks the schema.
	if dup := flowspec.DuplicateKeys(body); len(dup) > 0 {
		return nil, &badAnswer{violations: dup, dup: true, text: text}
	}
	if bad := s.Validate(v); len(bad) > 0 {
		return nil, &badAnswer{violations: bad, text: text}
	}
	return v, nil
}

// Unfenced is a model's answer without the Markdown code fence (```json
// … ```) models often put around JSON; any other text is returned as it
// is.
func Unfenced(text string) string {
	t := strings.TrimSpace(text)
	if !strings.HasPrefix(t, "```") || !strings.HasSuffix(t, "```") || len(t) < 6 {
		return text
	}
	inner := t[3 : len(t)-3]
	first, rest, ok := strings.Cut(inner, "\n")
	if !ok {
		return text
	}
	if tag := strings.TrimSpace(first); tag != "" && !strings.EqualFold(tag, "json") {
		return text
	}
	if strings.Contains(rest, "```") {
		return text // more than one block: not one fenced answer
	}
	return rest
}

// writePrompt keeps the step's first request as its prompt artifact,
// naming the model it goes to (the first of the step's list).
func writePrompt(sink work.Sink, caller providers.Caller, req providers.Request, models []string) {
	if len(models) > 0 {
		req.Model = models[0]
	}
	p := runstore.Prompt{Model: req.Model, Messages: req.Messages, Temperature: req.Temperature, MaxTokens: req.MaxTokens,
		Schema: req.Schema, Tools: req.Tools}
	if t, ok := providers.TargetOf(caller, req); ok {
		p.Model, p.Alias, p.BaseURL = t.Model, t.Alias, t.BaseURL
	}
	if data, err := json.MarshalIndent(p, "", "  "); err == nil {
		sink.Artifact("prompt", ".json", append(data, '\n'))
	}
}
