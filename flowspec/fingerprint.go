package flowspec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// fingerprintDoc is what a step's fingerprint covers: everything that
// changes what the step does, with defaults applied, and nothing that does
// not (description, position).
type fingerprintDoc struct {
	V          int      `json:"v"` // bump when the meaning of a field changes
	Kind       Kind     `json:"kind"`
	Needs      []string `json:"deps,omitempty"`
	If         string   `json:"if,omitempty"`
	Retry      Retry    `json:"retry"`
	Timeout    int64    `json:"timeout,omitempty"`
	Foreach    string   `json:"foreach,omitempty"`
	OutputJSON bool     `json:"output_json,omitempty"`
	// Continue is continue_on_error: it changes how the run reads the
	// step's failure, so a replay of an edited flow decides again what
	// followed it. Left out when false: fingerprints from before it match.
	Continue   bool           `json:"continue_on_error,omitempty"`
	Model      string         `json:"model,omitempty"`
	Fallbacks  []string       `json:"fallbacks,omitempty"` // left out for one model: its fingerprint is unchanged
	System     string         `json:"system,omitempty"`
	Prompt     *string        `json:"prompt,omitempty"`
	Messages   [][2]string    `json:"messages,omitempty"`
	Temp       *float64       `json:"temperature,omitempty"`
	MaxTokens  int            `json:"max_tokens,omitempty"`
	Tools      []toolDoc      `json:"tools,omitempty"`
	MCP        []mcpDoc       `json:"mcp,omitempty"`
	MaxTurns   int            `json:"max_turns,omitempty"`
	Run        *string        `json:"run,omitempty"`
	Stdin      string         `json:"stdin,omitempty"`
	Env        [][2]string    `json:"env,omitempty"`
	Dir        string         `json:"dir,omitempty"`
	Secrets    []string       `json:"secrets,omitempty"`
	MaxOutput  int64          `json:"max_output,omitempty"`
	Value      *string        `json:"value,omitempty"`
	ValueConst any            `json:"value_const,omitempty"`
	Question   string         `json:"question,omitempty"`
	Schema     map[string]any `json:"schema,omitempty"`
	// SchemaRetries is an llm step's, set only with its schema.
	SchemaRetries int `json:"schema_retries,omitempty"`
	// Flow is a flow step's sub-flow content (see FlowStep.Content), so
	// an edit of the sub-flow's file changes the step.
	Flow       string      `json:"flow,omitempty"`
	FlowInputs [][2]string `json:"flow_inputs,omitempty"`
}

func srcPtr(t *Template) *string {
	if t == nil {
		return nil
	}
	s := t.Source()
	return &s
}

// fingerprint hashes a step's definition. encoding/json sorts map keys, so
// the result is stable.
func fingerprint(s *Step) string {
	return hashDoc(fingerprintDocOf(s), s)
}

// itemFingerprint hashes a foreach step's definition without its foreach
// (and without the deps only foreach reads): what each item does.
func itemFingerprint(s *Step) string {
	d := fingerprintDocOf(s)
	// continue_on_error changes how the step's failure is read, not what
	// an item does.
	d.Foreach, d.Needs, d.Continue = "", s.Items.Steps, false
	return hashDoc(d, s)
}

func hashDoc(d fingerprintDoc, s *Step) string {
	raw, ok := d.appendJSON(make([]byte, 0, 256))
	if ok {
		sum := sha256.Sum256(raw)
		return hex.EncodeToString(sum[:])
	}
	raw, err := json.Marshal(d)
	if err != nil {
		// Only constants that JSON cannot hold get here; hash their text.
		d.ValueConst = nil
		d.Value = srcPtr(s.Checkpoint.Value)
		raw, _ = json.Marshal(d)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// fingerprintDocOf is what a step's fingerprint hashes.
func fingerprintDocOf(s *Step) fingerprintDoc {
	d := fingerprintDoc{
		V: 1, Kind: s.Kind, Needs: s.Deps, If: s.If.Source(), Retry: s.Retry,
		Timeout: int64(s.Timeout), Foreach: s.Foreach.Source(), OutputJSON: s.OutputJSON, Continue: s.ContinueOnError,
	}
	if b := s.LLM; b != nil {
		d.Model, d.Fallbacks, d.System, d.Prompt = b.Model, b.Fallbacks, b.System.Source(), srcPtr(b.Prompt)
		for _, m := range b.Messages {
			d.Messages = append(d.Messages, [2]string{m.Role, m.Content.Source()})
		}
		d.Temp, d.MaxTokens = b.Temperature, b.MaxTokens
		d.Tools, d.MCP, d.MaxTurns = toolDocs(b.Tools), mcpDocs(b.MCP), b.MaxTurns
		if b.Schema != nil {
			// A retry count of 0 is still a schema's setting: kept apart
			// from one that was never set by the schema beside it.
			d.Schema, d.SchemaRetries = b.Schema.Doc, b.SchemaRetries
		}
	}
	if b := s.Sub; b != nil {
		d.Flow = b.Content
		for _, in := range b.Inputs {
			d.FlowInputs = append(d.FlowInputs, [2]string{in.Name, in.Value.Source()})
		}
	}
	if b := s.Checkpoint; b != nil {
		d.Run, d.Stdin, d.Dir, d.Secrets = srcPtr(b.Run), b.Stdin.Source(), b.Dir.Source(), b.Secrets
		// A bigger cap can turn a failure into a result. 0 (the default)
		// is left out, so fingerprints from before max_output still match.
		d.MaxOutput = b.MaxOutput
		for _, e := range b.Env {
			d.Env = append(d.Env, [2]string{e.Name, e.Value.Source()})
		}
		if b.Value != nil {
			if b.Value.hasConstant {
				d.ValueConst = b.Value.constant
				if d.ValueConst == nil {
					d.Value = srcPtr(b.Value)
				}
			} else {
				d.Value = srcPtr(b.Value)
			}
		}
	}
	if b := s.Wait; b != nil {
		d.Question, d.Schema = b.Question.Source(), b.Schema
	}
	return d
}

// appendJSON appends exactly what json.Marshal gives for d, without
// reflection: a long flow's fingerprints were a good part of loading it.
// It declines (ok false) for documents holding arbitrary data (a constant
// value, a schema), which json.Marshal encodes.
func (d *fingerprintDoc) appendJSON(b []byte) (_ []byte, ok bool) {
	if d.ValueConst != nil || d.Flow != "" || len(d.FlowInputs) > 0 || len(d.Schema) > 0 || d.SchemaRetries != 0 || len(d.Tools) > 0 || len(d.MCP) > 0 {
		return b, false
	}
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(d.V), 10)
	b = append(b, `,"kind":`...)
	b = appendJSONString(b, string(d.Kind))
	if len(d.Needs) > 0 {
		b = append(b, `,"deps":`...)
		b = appendJSONStrings(b, d.Needs)
	}
	b = appendOptString(b, "if", d.If)
	b = append(b, `,"retry":{"Attempts":`...)
	b = strconv.AppendInt(b, int64(d.Retry.Attempts), 10)
	b = append(b, `,"Backoff":`...)
	b = strconv.AppendInt(b, int64(d.Retry.Backoff), 10)
	b = append(b, '}')
	if d.Timeout != 0 {
		b = append(b, `,"timeout":`...)
		b = strconv.AppendInt(b, d.Timeout, 10)
	}
	b = appendOptString(b, "foreach", d.Foreach)
	if d.OutputJSON {
		b = append(b, `,"output_json":true`...)
	}
	if d.Continue {
		b = append(b, `,"continue_on_error":true`...)
	}
	b = appendOptString(b, "model", d.Model)
	if len(d.Fallbacks) > 0 {
		b = append(b, `,"fallbacks":`...)
		b = appendJSONStrings(b, d.Fallbacks)
	}
	b = appendOptString(b, "system", d.System)
	b = appendStringPtr(b, "prompt", d.Prompt)
	b = appendPairs(b, "messages", d.Messages)
	if d.Temp != nil {
		f, err := json.Marshal(*d.Temp)
		if err != nil {
			return b, false
		}
		b = append(append(b, `,"temperature":`...), f...)
	}
	if d.MaxTokens != 0 {
		b = append(b, `,"max_tokens":`...)
		b = strconv.AppendInt(b, int64(d.MaxTokens), 10)
	}
	if d.MaxTurns != 0 {
		b = append(b, `,"max_turns":`...)
		b = strconv.AppendInt(b, int64(d.MaxTurns), 10)
	}
	b = appendStringPtr(b, "run", d.Run)
	b = appendOptString(b, "stdin", d.Stdin)
	b = appendPairs(b, "env", d.Env)
	b = appendOptString(b, "dir", d.Dir)
	if len(d.Secrets) > 0 {
		b = append(b, `,"secrets":`...)
		b = appendJSONStrings(b, d.Secrets)
	}
	if d.MaxOutput != 0 {
		b = append(b, `,"max_output":`...)
		b = strconv.AppendInt(b, d.MaxOutput, 10)
	}
	b = appendStringPtr(b, "value", d.Value)
	b = appendOptString(b, "question", d.Question)
	return append(b, '}'), true
}

func appendOptString(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	b = append(append(append(b, ',', '"'), key...), '"', ':')
	return appendJSONString(b, v)
}

func appendStringPtr(b []byte, key string, v *string) []byte {
	if v == nil {
		return b
	}
	b = append(append(append(b, ',', '"'), key...), '"', ':')
	return appendJSONString(b, *v)
}

func appendPairs(b []byte, key string, pairs [][2]string) []byte {
	if len(pairs) == 0 {
		return b
	}
	b = append(append(append(b, ',', '"'), key...), '"', ':', '[')
	for i, p := range pairs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONStrings(b, p[:])
	}
	return append(b, ']')
}

func appendJSONStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// appendJSONString writes s as encoding/json does (which escapes <, > and
// &); text beyond plain ASCII goes through encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && c != '\n' && c != '\t' || c >= utf8.RuneSelf || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
