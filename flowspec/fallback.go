package flowspec

import (
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Budget is what a run may spend on model calls: a limit of 0 is none.
// Every call counts, failed attempts and fallback tries included, as the
// run's usage and cost totals count them.
type Budget struct {
	MaxCostUSD float64 `json:"max_cost_usd,omitempty"`
	MaxTokens  int     `json:"max_tokens,omitempty"` // input and output tokens together
}

// IsZero says whether b sets no limit.
func (b Budget) IsZero() bool { return b.MaxCostUSD == 0 && b.MaxTokens == 0 }

// Over is b with every limit o sets put in its place: flags over a file.
func (b Budget) Over(o Budget) Budget {
	if o.MaxCostUSD != 0 {
		b.MaxCostUSD = o.MaxCostUSD
	}
	if o.MaxTokens != 0 {
		b.MaxTokens = o.MaxTokens
	}
	return b
}

// Models are the models an llm step tries, in order: Model, then its
// Fallbacks. A step naming none gives [""]: the default model.
func (b *LLMStep) Models() []string {
	return append([]string{b.Model}, b.Fallbacks...)
}

var budgetFields = []string{"max_cost_usd", "max_tokens"}

// budget reads the top-level budget: mapping.
func (l *loader) budget(n *yaml.Node) Budget {
	var b Budget
	if n = l.optionalMapping(n, "budget must be a mapping such as {max_cost_usd: 2.0, max_tokens: 200000}"); n == nil {
		return b
	}
	fs := l.fields(n, "budget field", budgetFields, nil)
	if p, ok := fs.get("max_cost_usd"); ok {
		v := resolve(p.val)
		f, err := strconv.ParseFloat(v.Value, 64)
		if v.Kind != yaml.ScalarNode || v.Tag == "!!str" || err != nil || !(f > 0) || math.IsInf(f, 0) {
			l.e.add(pos(v), "budget max_cost_usd must be a number of US dollars above 0, such as 2.5, not %s", nodeKind(v))
		} else {
			b.MaxCostUSD = f
		}
	}
	if p, ok := fs.get("max_tokens"); ok {
		v := resolve(p.val)
		i, err := strconv.ParseInt(v.Value, 10, 64)
		if v.Kind != yaml.ScalarNode || v.Tag == "!!str" || err != nil || i < 1 || i > math.MaxInt32 {
			l.e.add(pos(v), "budget max_tokens must be a whole number of tokens of at least 1, such as 200000, not %s", nodeKind(v))
		} else {
			b.MaxTokens = int(i)
		}
	}
	return b
}

// models reads a model: value, one name or a list of names tried in order;
// it returns the first and the rest ("" and nil when none was read).
func (l *loader) models(n *yaml.Node) (string, []string) {
	v := resolve(n)
	if v.Kind != yaml.SequenceNode {
		return l.model(n), nil
	}
	if len(v.Content) == 0 {
		l.e.add(pos(v), "model is an empty list; write one model, or the models to try in order such as [fast, anthropic/claude-haiku-4-5]")
		return "", nil
	}
	var out []string
	seen := map[string]bool{}
	for _, el := range v.Content {
		e := resolve(el)
		if e.Kind != yaml.ScalarNode || e.Tag == "!!null" || strings.TrimSpace(e.Value) == "" {
			l.e.add(pos(e), "each model of a model list is a name (an alias or provider/model), not %s", nodeKind(e))
			continue
		}
		m := l.model(el)
		if seen[m] {
			l.e.add(pos(e), "model %q is in the list twice; a model that gave no answer is not tried again", m)
			continue
		}
		seen[m] = true
		out = append(out, m)
	}
	switch len(out) {
	case 0:
		return "", nil
	case 1:
		return out[0], nil
	}
	return out[0], out[1:]
}
