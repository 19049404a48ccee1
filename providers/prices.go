package providers

import "regexp"

// prices are list prices in US dollars per million tokens for common
// models, keyed by provider/model. A model missing here records no cost:
// a wrong number is worse than none. An alias's Price overrides this.
var prices = map[string]Price{
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

	"anthropic/claude-3-haiku":    {InputPerMTok: 0.25, OutputPerMTok: 1.25},
	"anthropic/claude-3-5-haiku":  {InputPerMTok: 0.80, OutputPerMTok: 4.00},
	"anthropic/claude-3-5-sonnet": {InputPerMTok: 3.00, OutputPerMTok: 15.00},
	"anthropic/claude-3-7-sonnet": {InputPerMTok: 3.00, OutputPerMTok: 15.00},
	"anthropic/claude-sonnet-4":   {InputPerMTok: 3.00, OutputPerMTok: 15.00},
	"anthropic/claude-sonnet-4-5": {InputPerMTok: 3.00, OutputPerMTok: 15.00},
	"anthropic/claude-haiku-4-5":  {InputPerMTok: 1.00, OutputPerMTok: 5.00},
	"anthropic/claude-opus-4":     {InputPerMTok: 15.00, OutputPerMTok: 75.00},
	"anthropic/claude-opus-4-1":   {InputPerMTok: 15.00, OutputPerMTok: 75.00},
	"anthropic/claude-3-opus":     {InputPerMTok: 15.00, OutputPerMTok: 75.00},
}

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
	if len(model) > len("ollama/") && model[:len("ollama/")] == "ollama/" {
		return Price{}, true
	}
	return Price{}, false
}

// Cost is what usage costs at price p, in US dollars.
func (p Price) Cost(u Usage) float64 {
	return (float64(u.InputTokens)*p.InputPerMTok + float64(u.OutputTokens)*p.OutputPerMTok) / 1e6
}

func costOf(res Resolved, u Usage) *float64 {
	price := res.Price
	if price == nil {
		p, ok := PriceOf(res.Model)
		if !ok {
			return nil
		}
		price = &p
	}
	c := price.Cost(u)
	return &c
}
