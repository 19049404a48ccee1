package providers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kitaruhq/kitaru/internal/bytesize"
	"github.com/kitaruhq/kitaru/keyring"
	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/anthropic"
	"github.com/tmc/langchaingo/llms/ollama"
	"github.com/tmc/langchaingo/llms/openai"
)

// DefaultAnthropicMaxTokens is the max_tokens kitaru sends to Anthropic,
// which requires one, when a step sets none. Other providers get no limit
// unless the step sets one, so they use their own default.
const DefaultAnthropicMaxTokens = 4096

// Default endpoints; each can be overridden by its environment variable.
const (
	defaultOpenAIBase     = "https://api.openai.com/v1"
	defaultAnthropicBase  = "https://api.anthropic.com"
	defaultOpenRouterBase = "https://openrouter.ai/api/v1"
	defaultOllamaHost     = "http://localhost:11434"
)

// Options configure a Caller.
type Options struct {
	Getenv     func(string) string // nil: os.Getenv
	Secrets    keyring.Getter      // nil: no secrets available
	HTTPClient *http.Client        // nil: a default client
	// Sleep waits between retries; nil waits for real. Tests make it instant.
	Sleep func(context.Context, time.Duration) error
	// ResponseTimeout bounds the wait for a provider's answer to one
	// request; 0 means DefaultResponseTimeout. A step's timeout, if
	// shorter, still wins.
	ResponseTimeout time.Duration
	// MaxResponseBytes caps what is read of one answer; 0 means
	// DefaultMaxResponseBytes.
	MaxResponseBytes int64
}

// DefaultResponseTimeout is how long kitaru waits for a provider to start
// answering one request, the default of the providers' own SDKs: long
// enough for a slow reasoning model, short enough that a hung connection
// does not hold a step without a timeout forever.
const DefaultResponseTimeout = 10 * time.Minute

// New returns a Caller that resolves models with reg.
func New(reg Registry, opts Options) Caller {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.Sleep == nil {
		opts.Sleep = realSleep
	}
	return &caller{reg: reg, opts: opts}
}

// Source hands out callers the way the engine asks for them (it satisfies
// engine.Models): Current is the registry new runs resolve with, Caller
// calls with a given registry, such as a run's recorded snapshot.
type Source struct {
	Options Options
}

// Current loads the local registry overlaid by KITARU_MODEL_REGISTRY (read
// through Options.Getenv).
func (s Source) Current() (Registry, error) {
	getenv := s.Options.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	return loadRegistry(getenv)
}

// Caller returns a Caller that resolves with reg.
func (s Source) Caller(reg Registry) Caller { return New(reg, s.Options) }

type caller struct {
	reg  Registry
	opts Options
}

func (c *caller) responseTimeout() time.Duration {
	if c.opts.ResponseTimeout > 0 {
		return c.opts.ResponseTimeout
	}
	return DefaultResponseTimeout
}

// maxIdlePerHost bounds the idle connections kept to one provider: more
// than any sensible --parallel.
const maxIdlePerHost = 256

// transports are shared by every call with the same response timeout, so
// connections to a provider are kept alive across the steps of a run.
var transports sync.Map // time.Duration → *http.Transport

// transport is the HTTP transport under a call's retries: the default one
// with a bound on the wait for an answer.
func (c *caller) transport() http.RoundTripper {
	d := c.responseTimeout()
	if t, ok := transports.Load(d); ok {
		return t.(*http.Transport)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = d
	// Keep as many idle connections per provider as a run calls it at once
	// (--parallel): Go's default of 2 closes the rest after each call, and
	// every later call pays a new TCP and TLS handshake.
	t.MaxIdleConnsPerHost = maxIdlePerHost
	t.MaxIdleConns = 4 * maxIdlePerHost
	actual, _ := transports.LoadOrStore(d, t)
	return actual.(*http.Transport)
}

// providerInfo is what kitaru knows about each provider.
type providerInfo struct {
	keyVar  string // "" when no key is needed
	baseVar string
}

var providerInfos = map[string]providerInfo{
	"openai":     {keyVar: "OPENAI_API_KEY", baseVar: "OPENAI_BASE_URL"},
	"anthropic":  {keyVar: "ANTHROPIC_API_KEY", baseVar: "ANTHROPIC_BASE_URL"},
	"openrouter": {keyVar: "OPENROUTER_API_KEY", baseVar: "OPENROUTER_BASE_URL"},
	"ollama":     {baseVar: "OLLAMA_HOST"},
}

// EnvCredentials are the provider keys set in the environment getenv
// reads. Every command a flow runs inherits them, so they are masked in
// every step's records, not only in the calls that send them.
func EnvCredentials(getenv func(string) string) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(providerInfos)) {
		if v := providerInfos[name].keyVar; v != "" && getenv(v) != "" {
			out = append(out, getenv(v))
		}
	}
	return out
}

func (c *caller) Call(ctx context.Context, req Request) (resp *Response, err error) {
	start := time.Now()
	// An empty value counts as unset, as `KITARU_LLM_MOCK_RESPONSE= kitaru
	// run` is how a person turns the mock off for one command.
	if mock := c.opts.Getenv(EnvMockResponse); mock != "" {
		return Mock{Text: mock, Registry: c.reg, Getenv: c.opts.Getenv}.Call(ctx, req)
	}
	res, err := c.reg.Resolve(req.Model, c.opts.Getenv)
	if err != nil {
		return nil, permanent(err)
	}
	token, source, err := c.credential(res)
	if err != nil {
		return nil, err
	}
	if token != "" {
		defer func() {
			if resp != nil {
				resp.Credentials = []string{token}
			}
			if err != nil {
				err = &credentialError{err: err, values: []string{token}}
			}
		}()
	}
	base := c.baseURL(res.Provider)

	tr := &callTransport{base: c.transport(), sleep: c.opts.Sleep, stripTemperature: req.Temperature == nil, maxBody: c.opts.MaxResponseBytes}
	if keyring.Maskable(token) {
		tr.keyLen = len(token)
	}
	hc := &http.Client{}
	if c.opts.HTTPClient != nil {
		copied := *c.opts.HTTPClient
		hc = &copied
		if hc.Transport != nil {
			tr.base = hc.Transport
		}
	}
	hc.Transport = tr

	model, err := newModel(res, token, base, hc)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot set up the client: %s", res.Model, redact(err.Error(), token))
	}
	callOpts := []llms.CallOption{llms.WithModel(res.Name)}
	if req.Temperature != nil {
		callOpts = append(callOpts, llms.WithTemperature(*req.Temperature))
	}
	maxTokens := req.MaxTokens
	if maxTokens <= 0 && res.Provider == "anthropic" {
		maxTokens = DefaultAnthropicMaxTokens
	}
	if maxTokens > 0 {
		callOpts = append(callOpts, llms.WithMaxTokens(maxTokens))
		if res.Provider == "openrouter" {
			// OpenRouter documents max_tokens; langchaingo would send
			// OpenAI's newer max_completion_tokens.
			callOpts = append(callOpts, openai.WithLegacyMaxTokensField())
		}
	}
	so, err := structuredFor(res.Provider, req)
	if err != nil {
		return nil, err
	}
	if so != nil {
		tr.set = so.set
		callOpts = append(callOpts, so.opts...)
	}
	out, err := model.GenerateContent(ctx, toMessages(req.Messages), callOpts...)
	if err != nil {
		return nil, c.callError(ctx, res, tr, token, source, err)
	}
	if len(out.Choices) == 0 {
		return nil, fmt.Errorf("%s returned no answer (the provider answered %s)", res.Model, tr.answered(token, true))
	}
	usage := usageOf(res.Provider, out.Choices[0].GenerationInfo)
	return &Response{
		Text:             so.answer(res.Provider, out.Choices),
		Alias:            res.Alias,
		Model:            res.Model,
		Usage:            usage,
		CostUSD:          costOf(res, usage),
		CredentialSource: source,
		Latency:          time.Since(start),
		Attempts:         tr.attempts,
	}, nil
}

// credential finds the provider's key: its environment variable first,
// then the alias's secret. It fails before any network call.
func (c *caller) credential(res Resolved) (token, source string, err error) {
	info := providerInfos[res.Provider]
	if info.keyVar == "" {
		return "", CredentialNone, nil
	}
	if v := c.opts.Getenv(info.keyVar); v != "" {
		return v, CredentialEnvironment, nil
	}
	who := res.Model
	if res.Alias != "" {
		who = fmt.Sprintf("alias %q (%s)", res.Alias, res.Model)
	}
	if res.Secret != "" {
		if c.opts.Secrets == nil {
			return "", "", permanent(fmt.Errorf("%s needs %s from secret %q, but no secret store is available; export %s instead", who, info.keyVar, res.Secret, info.keyVar))
		}
		vals, err := c.opts.Secrets.Get(res.Secret)
		if errors.Is(err, keyring.ErrNotFound) {
			return "", "", permanent(fmt.Errorf("%s uses secret %q, which does not exist. Create it with: kitaru secrets set %s --%s=… (or export %s)", who, res.Secret, res.Secret, info.keyVar, info.keyVar))
		}
		if err != nil {
			err = fmt.Errorf("%s: cannot read secret %q (exporting %s instead needs no keyring): %w", who, res.Secret, info.keyVar, err)
			if errors.Is(err, keyring.ErrUnavailable) {
				// A missing keyring does not come back between attempts.
				return "", "", permanent(err)
			}
			return "", "", err
		}
		if v := vals[info.keyVar]; v != "" {
			return v, CredentialSecret, nil
		}
		return "", "", permanent(fmt.Errorf("%s uses secret %q, which has no key %s. Add it with: kitaru secrets set %s --%s=… (or export %s)", who, res.Secret, info.keyVar, res.Secret, info.keyVar, info.keyVar))
	}
	alias := res.Alias
	if alias == "" {
		alias = "ALIAS"
	}
	secretName := res.Provider + "-creds"
	return "", "", permanent(fmt.Errorf("%s needs an API key and none was found. Either export %s, or store it once and link it to an alias: "+
		"kitaru secrets set %s --%s=… then kitaru model register %s --model %s --secret %s",
		who, info.keyVar, secretName, info.keyVar, alias, res.Model, secretName))
}

// baseURL is the endpoint for provider, honouring the override variables.
func (c *caller) baseURL(provider string) string {
	v := strings.TrimSpace(c.opts.Getenv(providerInfos[provider].baseVar))
	switch provider {
	case "openai":
		return strings.TrimRight(cmpOr(v, defaultOpenAIBase), "/")
	case "openrouter":
		return strings.TrimRight(cmpOr(v, defaultOpenRouterBase), "/")
	case "anthropic":
		// ANTHROPIC_BASE_URL follows the Anthropic SDK (no /v1); the
		// langchaingo client wants the /v1 included.
		b := strings.TrimRight(cmpOr(v, defaultAnthropicBase), "/")
		if !strings.HasSuffix(b, "/v1") {
			b += "/v1"
		}
		return b
	case "ollama":
		return ollamaURL(v)
	}
	return v
}

// ollamaURL turns OLLAMA_HOST (host, host:port, or a URL) into a URL the
// way the ollama CLI does: a bare host gets port 11434, a URL with a
// scheme keeps that scheme's default port.
func ollamaURL(v string) string {
	if v == "" {
		return defaultOllamaHost
	}
	bare := !strings.Contains(v, "://")
	if bare {
		v = "http://" + v
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return strings.TrimRight(v, "/")
	}
	host, port := u.Hostname(), u.Port()
	if port == "" && bare {
		port = "11434"
	}
	// A server bound to all interfaces is reached on loopback.
	if host == "0.0.0.0" || host == "::" || host == "" {
		host = "127.0.0.1"
	}
	if port == "" {
		u.Host = host
		if strings.Contains(host, ":") {
			u.Host = "[" + host + "]"
		}
	} else {
		u.Host = net.JoinHostPort(host, port)
	}
	return strings.TrimRight(u.String(), "/")
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// newModel builds the langchaingo client. Token and base URL are always
// passed explicitly so the library never reads the environment itself.
func newModel(res Resolved, token, base string, hc *http.Client) (llms.Model, error) {
	switch res.Provider {
	case "openai":
		return openai.New(openai.WithToken(token), openai.WithBaseURL(base), openai.WithModel(res.Name), openai.WithHTTPClient(hc))
	case "openrouter":
		// OPENAI_ORGANIZATION, which the library reads itself, means
		// nothing to OpenRouter.
		return openai.New(openai.WithToken(token), openai.WithBaseURL(base), openai.WithModel(res.Name), openai.WithHTTPClient(hc), openai.WithOrganization(""))
	case "anthropic":
		return anthropic.New(anthropic.WithToken(token), anthropic.WithBaseURL(base), anthropic.WithModel(res.Name), anthropic.WithHTTPClient(hc))
	case "ollama":
		u, err := url.Parse(base)
		if err != nil {
			return nil, fmt.Errorf("OLLAMA_HOST %q is not a URL: %w", base, err)
		}
		return ollama.New(ollama.WithServerURL(u.String()), ollama.WithModel(res.Name), ollama.WithHTTPClient(hc))
	}
	return nil, fmt.Errorf("unknown provider %q; supported providers are %s", res.Provider, strings.Join(SupportedProviders, ", "))
}

func toMessages(msgs []Message) []llms.MessageContent {
	out := make([]llms.MessageContent, 0, len(msgs))
	for _, m := range msgs {
		role := llms.ChatMessageTypeHuman
		switch m.Role {
		case "system":
			role = llms.ChatMessageTypeSystem
		case "assistant":
			role = llms.ChatMessageTypeAI
		}
		out = append(out, llms.TextParts(role, m.Content))
	}
	return out
}

// textOf joins an Anthropic answer's content blocks, which langchaingo
// returns as separate choices; other providers answer in one choice.
func textOf(provider string, choices []*llms.ContentChoice) string {
	if provider != "anthropic" {
		return choices[0].Content
	}
	var b strings.Builder
	for _, ch := range choices {
		b.WriteString(ch.Content)
	}
	return b.String()
}

// usageOf reads token counts from GenerationInfo. Anthropic repeats the
// whole message's usage on every content block, so only the first choice
// is read, never a sum.
func usageOf(provider string, info map[string]any) Usage {
	in, out := "PromptTokens", "CompletionTokens"
	if provider == "anthropic" {
		in, out = "InputTokens", "OutputTokens"
	}
	return Usage{InputTokens: tokenCount(info[in]), OutputTokens: tokenCount(info[out])}
}

// maxTokenCount bounds a count a provider reports: far above any real call,
// and far below where sums over a run could overflow.
const maxTokenCount = 1 << 30

// tokenCount reads a token count as a provider reported it. A negative
// count (a broken server or proxy) would lower the run's totals and
// budgets, so it counts as 0; an absurd one is bounded.
func tokenCount(v any) int {
	var f float64
	switch n := v.(type) {
	case int:
		f = float64(n)
	case int32:
		f = float64(n)
	case int64:
		f = float64(n)
	case float64:
		f = n
	case float32:
		f = float64(n)
	}
	switch {
	case f != f || f <= 0: // NaN, negative, none
		return 0
	case f > maxTokenCount:
		return maxTokenCount
	}
	return int(f)
}

// callError turns a failed call into a sentence naming what was tried and
// what to check. Key values are scrubbed from anything the library or the
// provider said.
func (c *caller) callError(ctx context.Context, res Resolved, tr *callTransport, token, source string, err error) error {
	if tr.answer != nil && tr.answer.tooLarge {
		return permanent(fmt.Errorf("%s: the answer from %s is larger than %s, the most kitaru reads of one answer (the provider answered %s); check that %s points at the provider's API",
			res.Model, tr.lastURL, bytesize.Format(tr.answer.limit), tr.answered(token, true), cmpOr(providerInfos[res.Provider].baseVar, "the base URL")))
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: call stopped: %w", res.Model, ctxErr)
	}
	tries := ""
	if tr.attempts > 1 {
		tries = fmt.Sprintf(" after %d attempts", tr.attempts)
	}
	gaveUp := ""
	if tr.gaveUp != nil {
		gaveUp = "; " + tr.gaveUp.String()
	}
	if tr.lastNetErr != nil && strings.Contains(tr.lastNetErr.Error(), "timeout awaiting response headers") {
		return fmt.Errorf("%s: no answer from %s within %s; the provider may be overloaded: try again later (a step's retry: does so by itself)",
			res.Model, tr.lastURL, c.responseTimeout())
	}
	if tr.lastNetErr != nil {
		hint := "check your network connection"
		if v := providerInfos[res.Provider].baseVar; v != "" {
			hint += " and " + v
		}
		if res.Provider == "ollama" {
			hint = "is the Ollama server running ('ollama serve')? If it listens elsewhere, set OLLAMA_HOST"
		}
		return fmt.Errorf("%s: cannot reach %s%s: %s%s; %s", res.Model, tr.lastURL, tries, redact(tr.lastNetErr.Error(), token), gaveUp, hint)
	}
	msg := redact(err.Error(), token)
	if tr.lastStatus >= 400 {
		msg = libraryPrefix.ReplaceAllString(msg, "")
		if msg == "" || bareStatus.MatchString(msg) {
			// The library could not decode an error message: quote the
			// answer itself.
			msg = tr.answered(token, false)
		}
		hint := gaveUp
		if tr.lastStatus == http.StatusUnauthorized || tr.lastStatus == http.StatusForbidden {
			hint = "; check the API key"
			switch source {
			case CredentialEnvironment:
				hint += " in " + providerInfos[res.Provider].keyVar
			case CredentialSecret:
				hint += fmt.Sprintf(" in secret %q (kitaru secrets set %s --%s=…)", res.Secret, res.Secret, providerInfos[res.Provider].keyVar)
			}
		}
		if res.Provider == "ollama" && tr.lastStatus == http.StatusNotFound {
			hint = "; download it with: ollama pull " + res.Name
		}
		err := fmt.Errorf("%s answered HTTP %d%s: %s%s", res.Model, tr.lastStatus, tries, msg, hint)
		if tr.lastStatus < 500 && tr.lastStatus != http.StatusTooManyRequests && tr.lastStatus != http.StatusRequestTimeout {
			// The provider refused this request; sending it again will not help.
			return permanent(err)
		}
		return err
	}
	if tr.answer != nil {
		// The provider answered success, but not with what its API returns
		// (an HTML page from a proxy, a body cut short): the library's
		// "unexpected EOF" alone would not say so.
		return fmt.Errorf("%s: cannot read the answer from %s (%s): the provider answered %s",
			res.Model, tr.lastURL, decodePrefix.ReplaceAllString(msg, ""), tr.answered(token, true))
	}
	return fmt.Errorf("%s: %s", res.Model, msg)
}

// answered describes the last answer for an error message, or says there
// was none.
func (t *callTransport) answered(token string, status bool) string {
	if t.answer == nil {
		return "nothing"
	}
	return t.answer.describe(status, token)
}

// bareStatus is langchaingo's message when it could not decode an error
// body; decodePrefix its wording around a decode error of a success.
var (
	bareStatus   = regexp.MustCompile(`^(anthropic: failed to create message: )?API returned unexpected status code: \d+$`)
	decodePrefix = regexp.MustCompile(`^(anthropic: failed to create message: )?(parse response: )?`)
)

// libraryPrefix is langchaingo's wording around a provider's error
// message; kitaru says the same thing once, with the status.
var libraryPrefix = regexp.MustCompile(`^(anthropic: failed to create message: )?API returned unexpected status code: \d+: `)

// redact hides the key in text that may quote it, by the engine's rule:
// a value too short to be a real key would only mangle ordinary words.
func redact(s, token string) string {
	if !keyring.Maskable(token) {
		return s
	}
	return strings.ReplaceAll(s, token, "***")
}

// permanentError carries an error that retrying will not fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string        { return e.err.Error() }
func (e *permanentError) Unwrap() error        { return e.err }
func (e *permanentError) Is(target error) bool { return target == ErrPermanent }

func permanent(err error) error { return &permanentError{err} }
