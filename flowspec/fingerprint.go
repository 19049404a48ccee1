package flowspec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// fingerprintDoc is what a step's fingerprint covers: everything that
// changes what the step does, with defaults applied, and nothing that does
// not (description, position).
type fingerprintDoc struct {
	V          int            `json:"v"` // bump when the meaning of a field changes
	Kind       Kind           `json:"kind"`
	Needs      []string       `json:"deps,omitempty"`
	If         string         `json:"if,omitempty"`
	Retry      Retry          `json:"retry"`
	Timeout    int64          `json:"timeout,omitempty"`
	Foreach    string         `json:"foreach,omitempty"`
	OutputJSON bool           `json:"output_json,omitempty"`
	Model      string         `json:"model,omitempty"`
	System     string         `json:"system,omitempty"`
	Prompt     *string        `json:"prompt,omitempty"`
	Messages   [][2]string    `json:"messages,omitempty"`
	Temp       *float64       `json:"temperature,omitempty"`
	MaxTokens  int            `json:"max_tokens,omitempty"`
	Run        *string        `json:"run,omitempty"`
	Stdin      string         `json:"stdin,omitempty"`
	Env        [][2]string    `json:"env,omitempty"`
	Dir        string         `json:"dir,omitempty"`
	Secrets    []string       `json:"secrets,omitempty"`
	Value      *string        `json:"value,omitempty"`
	ValueConst any            `json:"value_const,omitempty"`
	Question   string         `json:"question,omitempty"`
	Schema     map[string]any `json:"schema,omitempty"`
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
	d := fingerprintDoc{
		V: 1, Kind: s.Kind, Needs: s.Deps, If: s.If.Source(), Retry: s.Retry,
		Timeout: int64(s.Timeout), Foreach: s.Foreach.Source(), OutputJSON: s.OutputJSON,
	}
	if b := s.LLM; b != nil {
		d.Model, d.System, d.Prompt = b.Model, b.System.Source(), srcPtr(b.Prompt)
		for _, m := range b.Messages {
			d.Messages = append(d.Messages, [2]string{m.Role, m.Content.Source()})
		}
		d.Temp, d.MaxTokens = b.Temperature, b.MaxTokens
	}
	if b := s.Checkpoint; b != nil {
		d.Run, d.Stdin, d.Dir, d.Secrets = srcPtr(b.Run), b.Stdin.Source(), b.Dir.Source(), b.Secrets
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
