package providers

import (
	"regexp"
	"strings"
)

// prices are list prices in US dollars per million tokens for common
// models, keyed by provider/model, as the providers' pricing pages gave
// them in November 2026 (standard tier: no batch, cache or priority
// discounts). A model missing here records no cost: a wrong number is
// worse than none. An alias's Price overrides this.
var prices = map[string]Price{
	"openai/gpt-5.5":       {InputPerMTok: 5.00, OutputPerMTok: 30.00, LongContext: &LongContextPrice{AboveInputTokens: 272_000, InputPerMTok: 10.00, OutputPerMTok: 45.00}},
	"openai/gpt-5.5-pro":   {InputPerMTok: 30.00, OutputPerMTok: 180.00},
	"openai/gpt-5.4":       {InputPerMTok: 2.50, OutputPerMTok: 15.00},
	"openai/gpt-5.4-mini":  {InputPerMTok: 0.75, OutputPerMTok: 4.50},
	"openai/gpt-5.4-nano":  {InputPerMTok: 0.20, OutputPerMTok: 1.25},
	"openai/gpt-5.4-pro":   {InputPerMTok: 30.00, OutputPerMTok: 180.00},
	"openai/gpt-5.1":       {InputPerMTok: 1.25, OutputPerMTok: 10.00},
	"openai/gpt-4o":        {InputPerMTok: 2.50, OutputPerMTok: 10.00},
	"openai/gpt-4o-mini":   {InputPerMTok: 0.15, OutputPerMTok: 0.60},
	"openai/gpt-4.1":       {InputPerMTok: 2.00, OutputPerMTok: 8.00},
	"openai/gpt-4.1-mini":  {InputPerMTok: 0.40, OutputPerMTok: 1.60},
	"openai/gpt-4.1-nano":  {InputPerMTok: 0.10, OutputPerMTok: 0.40},
	"openai/gpt-4-turbo":   {InputPerMTok: 10.00, OutputPerMTok: 30.00},
	"openai/gpt-3.5-turbo": {InputPerMTok: 0.50, OutputPerMTok: 1.50},
	"openai/gpt-5":         {InputPerMTok: 1.25, OutputPerMTok: 10.00},
	"openai/gpt-5-mini":    {InputPerMTok: 0.25, OutputPerMTok: 2.00},
	"openai/gpt-5-nano":    {InputPerMTok: 0.05, OutputPerMTok: 0.40},
	"openai/o1":            {InputPerMTok: 15.00, OutputPerMTok: 60.00},
	"openai/o3":            {InputPerMTok: 2.00, OutputPerMTok: 8.00},
	"openai/o3-mini":       {InputPerMTok: 1.10, OutputPerMTok: 4.40},
	"openai/o4-mini":       {InputPerMTok: 1.10, OutputPerMTok: 4.40},

	"anthropic/claude-fable-5-1":  {InputPerMTok: 10.00, OutputPerMTok: 50.00},
	"anthropic/claude-fable-5":    {InputPerMTok: 10.00, OutputPerMTok: 50.00},
	"anthropic/claude-opus-5-5":   {InputPerMTok: 4.00, OutputPerMTok: 20.00},
	"anthropic/claude-opus-5":     {InputPerMTok: 5.00, OutputPerMTok: 25.00},
	"anthropic/claude-opus-4-5":   {InputPerMTok: 5.00, OutputPerMTok: 25.00},
	"anthropic/claude-sonnet-5-5": {InputPerMTok: 2.00, OutputPerMTok: 10.00},
	"anthropic/claude-sonnet-5":   {InputPerMTok: 2.00, OutputPerMTok: 10.00},
	"anthropic/claude-sonnet-4-6": {InputPerMTok: 3.00, OutputPerMTok: 15.00},
	"anthropic/claude-haiku-5-5":  {InputPerMTok: 0.10, OutputPerMTok: 0.50, LongContext: &LongContextPrice{AboveInputTokens: 100_000, InputPerMTok: 0.50, OutputPerMTok: 2.50}},
	"anthropic/claude-3-haiku":    {InputPerMTok: 0.25, OutputPerMTok: 1.25},
	"anthropic/claude-3-5-haiku":  {InputPerMTok: 0.80, OutputPerMTok: 4.00},
	"anthropic/claude-3-5-sonnet": {InputPerMTok: 3.00, OutputPerMTok: 15.00},
	"anthropic/claude-3-7-sonnet": {InputPerMTok: 3.00, OutputPerMTok: 15.00},
	"anthropic/claude-sonnet-4":   {InputPerMTok: 3.00, OutputPerMTok: 15.00, LongContext: sonnet4LongContext},
	"anthropic/claude-sonnet-4-5": {InputPerMTok: 3.00, OutputPerMTok: 15.00, LongContext: sonnet4LongContext},
	"anthropic/claude-haiku-4-5":  {InputPerMTok: 1.00, OutputPerMTok: 5.00},
	"anthropic/claude-opus-4":     {InputPerMTok: 15.00, OutputPerMTok: 75.00},
	"anthropic/claude-opus-4-1":   {InputPerMTok: 15.00, OutputPerMTok: 75.00},
	"anthropic/claude-3-opus":     {InputPerMTok: 15.00, OutputPerMTok: 75.00},

	// Gemini's paid tier for text input (kitaru sends only text; audio
	// input costs more), as Google's pricing page gave it through mid-2026.
	// Output includes thinking tokens, which Google bills as output.
	"gemini/gemini-3-pro-preview":   {InputPerMTok: 2.00, OutputPerMTok: 12.00, LongContext: &LongContextPrice{AboveInputTokens: 200_000, InputPerMTok: 4.00, OutputPerMTok: 18.00}},
	"gemini/gemini-3-flash-preview": {InputPerMTok: 0.50, OutputPerMTok: 3.00},
	"gemini/gemini-2.5-pro":         {InputPerMTok: 1.25, OutputPerMTok: 10.00, LongContext: &LongContextPrice{AboveInputTokens: 200_000, InputPerMTok: 2.50, OutputPerMTok: 15.00}},
	"gemini/gemini-2.5-flash":       {InputPerMTok: 0.30, OutputPerMTok: 2.50},
	"gemini/gemini-2.5-flash-lite":  {InputPerMTok: 0.10, OutputPerMTok: 0.40},
	"gemini/gemini-2.0-flash":       {InputPerMTok: 0.10, OutputPerMTok: 0.40},
	"gemini/gemini-2.0-flash-lite":  {InputPerMTok: 0.075, OutputPerMTok: 0.30},
}

// sonnet4LongContext is what Claude Sonnet 4 and 4.5 cost for a prompt
// over 200K tokens (their 1M-token context).
var sonnet4LongContext = &LongContextPrice{AboveInputTokens: 200_000, InputPerMTok: 6.00, OutputPerMTok: 22.50}

// versionSuffix matches the dated or -latest/-0 tails providers put on
// model names (gpt-4o-2024-08-06, claude-3-5-haiku-20241022,
// claude-sonnet-4-0, claude-3-5-sonnet-latest), which share their family's
// price.
var versionSuffix = regexp.MustCompile(`(-\d{4}-\d{2}-\d{2}|-\d{8}|-latest|-0)$`)

// PriceOf returns the built-in price of a provider/model, if known. Ollama
// models run on the user's own machine and cost nothing per token.
func PriceOf(model string) (Price, bool) {
	if p, ok := prices[model]; ok {
		return p, true
	}
	if p, ok := prices[versionSuffix.ReplaceAllString(model, "")]; ok {
		return p, true
	}
	if len(model) > len("ollama/") && strings.HasPrefix(model, "ollama/") {
		return Price{}, true
	}
	return Price{}, false
}

// AliasPriceOf is the built-in price of a provider/model an alias calls at
// baseURL ("" for the provider's own endpoint). The table holds the
// providers' own prices: another server (Groq, a vLLM box) charges
// something else or nothing, so its calls record no cost unless the alias
// gives a price; an Ollama server is the user's own and free wherever it
// runs.
func AliasPriceOf(model, baseURL string) (Price, bool) {
	if baseURL != "" && !strings.HasPrefix(model, "ollama/") {
		return Price{}, false
	}
	return PriceOf(model)
}

// Cost is what usage costs at price p, in US dollars. A call over a long
// context threshold is billed entirely at the long-context rates.
func (p Price) Cost(u Usage) float64 {
	in, out := p.InputPerMTok, p.OutputPerMTok
	if lc := p.LongContext; lc != nil && u.InputTokens > lc.AboveInputTokens {
		in, out = lc.InputPerMTok, lc.OutputPerMTok
	}
	return (float64(u.InputTokens)*in + float64(u.OutputTokens)*out) / 1e6
}

func costOf(res Resolved, u Usage) *float64 {
	price := res.Price
	if price == nil {
		p, ok := AliasPriceOf(res.Model, res.BaseURL)
		if !ok {
			return nil
		}
		price = &p
	}
	c := price.Cost(u)
	return &c
}
