package executors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/work"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/internal/humantime"
	"github.com/kitaruhq/kitaru/internal/textcut"
	"github.com/kitaruhq/kitaru/providers"
)

// Model makes an llm step's model call. With a schema, an answer that is
// not JSON or breaks the schema is asked for again in the same
// conversation, up to the step's schema_retries; every call is paid for
// and counted.
type Model struct{}

// Execute sends the step's messages and returns the answer.
func (Model) Execute(ctx context.Context, u *work.Unit, sink work.Sink) (*work.Result, error) {
	l := u.Step.LLM
	msgs, err := messagesOf(l, u.Scope)
	if err != nil {
		return nil, err
	}
	req := providers.Request{Model: l.Model, Messages: msgs, Temperature: l.Temperature, MaxTokens: l.MaxTokens}
	if l.Schema != nil {
		req.Schema, req.SchemaName = l.Schema.JSON, u.Step.ID
	}
	caller := u.Model
	if caller == nil {
		if mock := os.Getenv(providers.EnvMockResponse); mock != "" {
			caller = providers.Mock{Text: mock}
		} else {
			return nil, runstore.Advise(errors.New("no provider configured"), runstore.Remedy{Do: runstore.RemedyRegisterModel})
		}
	}
	models := l.Models()
	cache := cacheFor(u, caller, req)
	if res, ok := cache.answer(ctx, models, sink); ok {
		return res, nil
	}
	// answered is the model that answered the first call; res is nil
	// until a call answered.
	answered := ""
	var res *work.Result
	var turns []runstore.Turn
	for turn := 1; ; turn++ {
		name := func(base string) string {
			if turn == 1 {
				return base
			}
			return fmt.Sprintf("%s-turn%d", base, turn)
		}
		if data, err := json.MarshalIndent(req, "", "  "); err == nil {
			sink.Artifact(name("prompt"), ".json", append(data, '\n'))
		}
		t0 := time.Now()
		sctx, end := streamed(ctx, sink)
		resp, at, failed, err := callModels(sctx, caller, req, models, sink)
		end()
		if err != nil {
			if len(failed) > 0 {
				// The models that gave no answer are listed in the record.
				msg := sink.Mask(err.Error())
				turns = append(turns, runstore.Turn{Turn: turn, Error: &msg, DurationMS: time.Since(t0).Milliseconds(), FailedModels: failed})
				if res == nil {
					res = &work.Result{}
				}
			}
			if res == nil {
				return nil, err
			}
			res.Turns = keptTurns(turns)
			if turn == 1 {
				return res, err
			}
			// The turns before were paid for.
			return res, fmt.Errorf("asking again for an answer that follows the schema (turn %d): %w", turn, err)
		}
		// Later turns of the conversation go to the model that answered
		// (those before it in the list gave no answer).
		models = models[at:]
		if turn == 1 {
			answered = models[0]
		}
		text := sink.Mask(resp.Text)
		sink.Artifact(name("response"), ".txt", []byte(text))
		sink.Log(fmt.Sprintf("model %s answered in %s (%d tokens in, %d out)", resp.Model, humantime.Duration(resp.Latency), resp.Usage.InputTokens, resp.Usage.OutputTokens))
		if res == nil {
			res = &work.Result{}
		}
		res.Model, res.Alias, res.Credential, res.Mock = resp.Model, resp.Alias, resp.CredentialSource, resp.Mock
		res.Usage, res.Cost = res.Usage.Add(resp.Usage), providers.AddCost(res.Cost, resp.CostUSD)
		t := runstore.Turn{Turn: turn, DurationMS: resp.Latency.Milliseconds(), Usage: resp.Usage, CostUSD: resp.CostUSD}
		if len(l.Fallbacks) > 0 {
			t.Model, t.Alias, t.FailedModels = resp.Model, resp.Alias, failed
		}
		if l.Schema == nil {
			turns = append(turns, t)
			res.Turns = keptTurns(turns)
			out, err := sink.Output(text)
			if err != nil {
				return res, err // the call was made and paid for
			}
			res.Output = out
			cache.keep(ctx, answered, res, text, sink)
			return res, nil
		}
		out, bad := checkAnswer(l.Schema, text)
		if bad == nil {
			turns = append(turns, t)
			res.Turns = keptTurns(turns)
			res.Output = sink.MaskValue(out)
			cache.keep(ctx, answered, res, text, sink)
			return res, nil
		}
		msg := bad.Error()
		t.Error = &msg
		if len(bad.violations) > 0 {
			t.Pointer = &bad.violations[0].Pointer
		}
		turns = append(turns, t)
		if turn > l.SchemaRetries {
			res.Turns = keptTurns(turns)
			return res, bad.final(turn, l.SchemaRetries)
		}
		sink.Log(fmt.Sprintf("its answer %s; asking again (%d of %d)", msg, turn, l.SchemaRetries))
		// The answer as recorded (masked) goes back: the conversation is
		// in the step's artifacts too.
		req.Messages = append(req.Messages,
			providers.Message{Role: "assistant", Content: text},
			providers.Message{Role: "user", Content: bad.reask(l.Schema)})
	}
}

// keptTurns are the turns a record lists: all of them when there was more
// than one call, or a model of the list gave no answer; else none (the
// step's own fields say it all).
func keptTurns(turns []runstore.Turn) []runstore.Turn {
	if len(turns) > 1 {
		return turns
	}
	for _, t := range turns {
		if len(t.FailedModels) > 0 {
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

// badAnswer is why an answer was not taken: not JSON (parse), or JSON that
// breaks the schema (violations, the first named).
type badAnswer struct {
	parse      error
	text       string // the answer, masked, for the message
	violations []flowspec.Violation
}

func (b *badAnswer) Error() string {
	if len(b.violations) == 0 {
		return fmt.Sprintf("is not JSON (%v): %q", b.parse, textcut.Runes(b.text, 200))
	}
	msg := "breaks the schema " + b.violations[0].Error()
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
		what.WriteString("Your answer does not follow the JSON Schema:")
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
func (b *badAnswer) final(calls, retries int) error {
	times := "once"
	if calls > 1 {
		times = fmt.Sprintf("%d times", calls)
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
