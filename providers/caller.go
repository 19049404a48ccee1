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
	defaultGeminiBase     = "https://generativelanguage.googleapis.com/v1beta/openai"
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
	keyVar    string // "" when no key is needed
	baseVar   string
	keyHeader string // the header the client sends the key in
	// openAIWire: the provider speaks OpenAI chat completions, through
	// langchaingo's OpenAI client.
	openAIWire bool
}

var providerInfos = map[string]providerInfo{
	"openai":     {keyVar: "OPENAI_API_KEY", baseVar: "OPENAI_BASE_URL", keyHeader: "Authorization", openAIWire: true},
	"anthropic":  {keyVar: "ANTHROPIC_API_KEY", baseVar: "ANTHROPIC_BASE_URL", keyHeader: "X-Api-Key"},
	"openrouter": {keyVar: "OPENROUTER_API_KEY", baseVar: "OPENROUTER_BASE_URL", keyHeader: "Authorization", openAIWire: true},
	"gemini":     {keyVar: "GEMINI_API_KEY", baseVar: "GEMINI_BASE_URL", keyHeader: "Authorization", openAIWire: true},
	"ollama":     {baseVar: "OLLAMA_HOST"},
}

// KeyVar is the environment variable holding the API key of a
// provider/model's provider, "" for a provider that needs none.
func KeyVar(model string) string {
	provider, _, _ := strings.Cut(model, "/")
	return providerInfos[provider].keyVar
}

// BaseVar is the environment variable that moves a provider/model's
// provider to another server.
func BaseVar(model string) string {
	provider, _, _ := strings.Cut(model, "/")
	return providerInfos[provider].baseVar
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
	res, err := c.reg.Resolve(req.Model, req.env(c.opts.Getenv))
	if err != nil {
		return nil, permanent(err)
	}
	if res.Provider == "ollama" && len(req.Tools) > 0 {
		return nil, permanent(c.ollamaToolsError(res))
	}
	secrets := &secretReader{getter: c.opts.Secrets}
	token, source, err := c.credential(res, secrets)
	if err != nil {
		return nil, err
	}
	headers, sent, headerSource, err := c.headers(res, secrets)
	if err != nil {
		return nil, err
	}
	if token != "" {
		sent = append([]string{token}, sent...)
	}
	// Longest first: a key that holds another is masked whole.
	slices.SortStableFunc(sent, func(a, b string) int { return len(b) - len(a) })
	if source == CredentialNone {
		source = headerSource
	}
	if f := StreamOf(ctx).Secrets; f != nil && len(sent) > 0 {
		f(sent)
	}
	if len(sent) > 0 {
		defer func() {
			if resp != nil {
				resp.Credentials = sent
			}
			if err != nil {
				err = &credentialError{err: err, values: sent}
			}
		}()
	}
	base := c.baseURL(res)

	tr := &callTransport{base: c.transport(), sleep: c.opts.Sleep, stripTemperature: req.Temperature == nil, maxBody: c.opts.MaxResponseBytes,
		headers: headers, keys: sent, onRetry: StreamOf(ctx).Retry}
	clientToken := token
	if info := providerInfos[res.Provider]; token == "" && info.keyHeader != "" {
		// Only an alias's own server is called without a key (a local
		// vLLM or LM Studio needs none, or its headers carry one): the
		// client insists on a token, so it gets a stand-in that is never
		// sent.
		clientToken, tr.dropHeader = "none", info.keyHeader
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

	model, err := newModel(res, clientToken, base, hc)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot set up the client: %s", res.Model, redact(err.Error(), sent))
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
		if legacyMaxTokens(res) {
			callOpts = append(callOpts, openai.WithLegacyMaxTokensField())
		}
	}
	so, err := structuredFor(res.Provider, req)
	if err != nil {
		return nil, err
	}
	if so != nil {
		tr.set = so.set
	}
	callOpts = append(callOpts, toolOptions(req.Tools, so.extraTools()...)...)
	// Turns that offer tools stream too: on the OpenAI wire the answer's
	// text and tool calls are read off the stream by kitaru (see
	// stream_chunks.go), as the client mixes up parallel calls.
	streamOpts, chunks := streamOptions(ctx, res.Provider, so.answerTool())
	callOpts = append(callOpts, streamOpts...)
	tr.chunks = chunks
	out, err := model.GenerateContent(ctx, toMessages(res.Provider, req.Messages), callOpts...)
	if chunks != nil {
		if text, calls, ok := chunks.finish(); ok && err == nil && len(out.Choices) > 0 {
			out.Choices[0].Content, out.Choices[0].ToolCalls = text, calls
		}
	}
	if err != nil {
		return nil, c.callError(ctx, res, tr, source, err)
	}
	if len(out.Choices) == 0 {
		return nil, fmt.Errorf("%s returned no answer (the provider answered %s)", res.Model, tr.answered(true))
	}
	usage := usageOf(res.Provider, out.Choices[0].GenerationInfo)
	calls, err := toolCallsOf(res.Provider, out.Choices)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", res.Model, err)
	}
	return &Response{
		Text:             so.answer(res.Provider, out.Choices),
		ToolCalls:        so.calls(calls),
		Alias:            res.Alias,
		Model:            res.Model,
		Usage:            usage,
		CostUSD:          costOf(res, usage),
		CredentialSource: source,
		Latency:          time.Since(start),
		Attempts:         tr.attempts,
	}, nil
}

// legacyMaxTokens: the request limits the answer with max_tokens, not
// OpenAI's newer max_completion_tokens, which langchaingo sends by
// default. OpenRouter and Gemini document max_tokens, and so do most
// OpenAI-compatible servers an alias may point at (vLLM, LM Studio,
// Mistral); some refuse a field they do not know.
func legacyMaxTokens(res Resolved) bool {
	switch res.Provider {
	case "openrouter", "gemini":
		return true
	case "openai":
		return res.BaseURL != ""
	}
	return false
}

// secretReader reads each secret at most once per call: the alias's
// secret and its headers may name the same one.
type secretReader struct {
	getter keyring.Getter
	read   map[string]map[string]string
}

func (r *secretReader) get(name string) (map[string]string, error) {
	if v, ok := r.read[name]; ok {
		return v, nil
	}
	v, err := r.getter.Get(name)
	if err != nil {
		return nil, err
	}
	if r.read == nil {
		r.read = map[string]map[string]string{}
	}
	r.read[name] = v
	return v, nil
}

// who names the model of a call in a sentence.
func who(res Resolved) string {
	if res.Alias != "" {
		return fmt.Sprintf("alias %q (%s)", res.Alias, res.Model)
	}
	return res.Model
}

// credential finds the provider's key: its environment variable first,
// then the alias's secret. It fails before any network call. The key in
// the environment is for the provider's own endpoint: an alias with its
// own server gets only what the alias names (its secret, its headers),
// or no key at all, so OPENAI_API_KEY is never sent to a third party.
func (c *caller) credential(res Resolved, secrets *secretReader) (token, source string, err error) {
	info := providerInfos[res.Provider]
	if info.keyVar == "" {
		return "", CredentialNone, nil
	}
	own := res.BaseURL != ""
	if !own {
		if v := c.opts.Getenv(info.keyVar); v != "" {
			return v, CredentialEnvironment, nil
		}
	}
	if res.Secret != "" {
		orElse := "export " + info.keyVar
		if own {
			orElse = fmt.Sprintf("send it as a header: kitaru model register %s … --header '%s=%s%s/KEY'", res.Alias, info.keyHeader, SecretRefPrefix, res.Secret)
		}
		v, err := c.secretValue(res, secrets, res.Secret, info.keyVar, orElse)
		if err != nil {
			return "", "", err
		}
		return v, CredentialSecret, nil
	}
	if own {
		return "", CredentialNone, nil
	}
	alias := res.Alias
	if alias == "" {
		alias = "ALIAS"
	}
	secretName := res.Provider + "-creds"
	return "", "", permanent(fmt.Errorf("%s needs an API key and none was found. Either export %s, or store it once and link it to an alias: "+
		"kitaru secrets set %s --%s=… then kitaru model register %s --model %s --secret %s",
		who(res), info.keyVar, secretName, info.keyVar, alias, res.Model, secretName))
}

// secretValue reads key of secret name for res's call; orElse says what
// to do instead when it cannot ("export OPENAI_API_KEY").
func (c *caller) secretValue(res Resolved, secrets *secretReader, name, key, orElse string) (string, error) {
	if c.opts.Secrets == nil {
		return "", permanent(fmt.Errorf("%s needs %s from secret %q, but no secret store is available; %s instead", who(res), key, name, orElse))
	}
	vals, err := secrets.get(name)
	if errors.Is(err, keyring.ErrNotFound) {
		return "", permanent(fmt.Errorf("%s uses secret %q, which does not exist. Create it with: kitaru secrets set %s --%s=… (or %s)", who(res), name, name, key, orElse))
	}
	if err != nil {
		err = fmt.Errorf("%s: cannot read secret %q (to %s instead needs no keyring): %w", who(res), name, orElse, err)
		if errors.Is(err, keyring.ErrUnavailable) {
			// A missing keyring does not come back between attempts.
			return "", permanent(err)
		}
		return "", err
	}
	if v := vals[key]; v != "" {
		return v, nil
	}
	return "", permanent(fmt.Errorf("%s uses secret %q, which has no key %s. Add it with: kitaru secrets set %s --%s=… (or %s)", who(res), name, key, name, key, orElse))
}

// headers resolves the alias's headers: literals as written, references
// read now. sent are the values read, to be masked; source is where they
// came from (secret over environment), CredentialNone without any.
func (c *caller) headers(res Resolved, secrets *secretReader) (h http.Header, sent []string, source string, err error) {
	if len(res.Headers) == 0 {
		return nil, nil, CredentialNone, nil
	}
	h = http.Header{}
	source = CredentialNone
	for _, name := range slices.Sorted(maps.Keys(res.Headers)) {
		hv, err := ParseHeaderValue(res.Headers[name])
		if err != nil {
			return nil, nil, "", permanent(fmt.Errorf("%s: header %s: %w", who(res), name, err))
		}
		v := hv.Literal
		switch {
		case hv.Secret != "":
			v, err = c.secretValue(res, secrets, hv.Secret, hv.Key, "name an environment variable: --header '"+name+"="+EnvRefPrefix+"VAR'")
			if err != nil {
				return nil, nil, "", err
			}
			source = CredentialSecret
		case hv.Env != "":
			v = c.opts.Getenv(hv.Env)
			if v == "" {
				return nil, nil, "", permanent(fmt.Errorf("%s sends header %s from %s, which is not set; export it, or keep the value in a secret: --header '%s=%sNAME/KEY'",
					who(res), name, hv.Env, name, SecretRefPrefix))
			}
			if source == CredentialNone {
				source = CredentialEnvironment
			}
		}
		if hv.IsRef() {
			v = strings.TrimSpace(v)
			if strings.ContainsAny(v, "\r\n\x00") {
				return nil, nil, "", permanent(fmt.Errorf("%s: the value header %s names holds a line break or NUL, which a header cannot carry; store it again without one", who(res), name))
			}
			sent = append(sent, v)
			v = hv.Send(name, v)
		}
		h.Set(name, v)
	}
	return h, sent, source, nil
}

// baseURL is the endpoint of a call: the alias's own server, else the
// provider's, honouring its override variable. Each is written as the
// provider's SDK expects it.
func (c *caller) baseURL(res Resolved) string {
	base, _ := Endpoint(Alias{Model: res.Model, BaseURL: res.BaseURL}, c.opts.Getenv)
	return base
}

// Endpoint is the base URL a's calls go to, as the client is given it,
// and what set it: "alias" (its own base URL), the provider's variable
// (OPENAI_BASE_URL…) read through getenv, or "default".
func Endpoint(a Alias, getenv func(string) string) (base, from string) {
	provider, _, _ := strings.Cut(a.Model, "/")
	v, from := strings.TrimRight(a.BaseURL, "/"), "alias"
	if v == "" {
		from = "default"
		if bv := providerInfos[provider].baseVar; bv != "" {
			if v = strings.TrimSpace(getenv(bv)); v != "" {
				from = bv
			}
		}
	}
	return normalizeBase(provider, v), from
}

// normalizeBase turns a base URL as written (v, "" for the default) into
// the one the client is given.
func normalizeBase(provider, v string) string {
	switch provider {
	case "openai":
		return strings.TrimRight(cmpOr(v, defaultOpenAIBase), "/")
	case "openrouter":
		return strings.TrimRight(cmpOr(v, defaultOpenRouterBase), "/")
	case "gemini":
		return strings.TrimRight(cmpOr(v, defaultGeminiBase), "/")
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
	case "openai", "openrouter", "gemini":
		opts := []openai.Option{openai.WithToken(token), openai.WithBaseURL(base), openai.WithModel(res.Name), openai.WithHTTPClient(hc)}
		if res.Provider != "openai" || res.BaseURL != "" {
			// OPENAI_ORGANIZATION, which the library reads itself, is
			// for OpenAI alone: another server has no use for it.
			opts = append(opts, openai.WithOrganization(""))
		}
		return openai.New(opts...)
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
	u := Usage{InputTokens: tokenCount(info[in]), OutputTokens: tokenCount(info[out])}
	if provider == "gemini" {
		// Gemini bills its thinking as output; translations of its usage
		// to OpenAI's shape have left those tokens out of
		// completion_tokens while counting them in total_tokens, so the
		// total decides when it says more.
		u.OutputTokens = max(u.OutputTokens, tokenCount(info["TotalTokens"])-u.InputTokens)
	}
	return u
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
func (c *caller) callError(ctx context.Context, res Resolved, tr *callTransport, source string, err error) error {
	if tr.answer != nil && tr.answer.tooLarge {
		return permanent(fmt.Errorf("%s: the answer from %s is larger than %s, the most kitaru reads of one answer (the provider answered %s); check that %s points at the provider's API",
			res.Model, tr.lastURL, bytesize.Format(tr.answer.limit), tr.answered(true), baseSetting(res)))
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
		hint := "check your network connection and " + baseSetting(res)
		if res.Provider == "ollama" && res.BaseURL == "" {
			hint = "is the Ollama server running ('ollama serve')? If it listens elsewhere, set OLLAMA_HOST"
		}
		return fmt.Errorf("%s: cannot reach %s%s: %s%s; %s", res.Model, tr.lastURL, tries, redact(tr.lastNetErr.Error(), tr.keys), gaveUp, hint)
	}
	msg := redact(err.Error(), tr.keys)
	if tr.lastStatus >= 400 {
		msg = libraryPrefix.ReplaceAllString(msg, "")
		if msg == "" || bareStatus.MatchString(msg) {
			// The library could not decode an error message: quote the
			// answer itself.
			msg = tr.answered(false)
		}
		hint := gaveUp
		if tr.lastStatus == http.StatusUnauthorized || tr.lastStatus == http.StatusForbidden {
			hint = "; check the API key"
			switch {
			case source == CredentialEnvironment && res.BaseURL == "":
				hint += " in " + providerInfos[res.Provider].keyVar
			case source == CredentialSecret && res.Secret != "":
				hint += fmt.Sprintf(" in secret %q (kitaru secrets set %s --%s=…)", res.Secret, res.Secret, providerInfos[res.Provider].keyVar)
			case len(res.Headers) > 0:
				hint += " that the headers of alias " + res.Alias + " name (kitaru model show " + res.Alias + ")"
			case source == CredentialNone && res.BaseURL != "":
				hint = fmt.Sprintf("; no key was sent to %s: if it needs one, register alias %s again with --header '%s=%sNAME/KEY'",
					res.BaseURL, res.Alias, providerInfos[res.Provider].keyHeader, SecretRefPrefix)
			}
		}
		if res.Provider == "ollama" && tr.lastStatus == http.StatusNotFound {
			hint = "; download it with: ollama pull " + res.Name
		}
		if tr.lastStatus == http.StatusNotFound && providerInfos[res.Provider].openAIWire && noPath(tr.lastURL) {
			hint += fmt.Sprintf("; %s is written as the OpenAI SDK expects it, with the API's version path (http://host:port/v1)", baseSetting(res))
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
			res.Model, tr.lastURL, decodePrefix.ReplaceAllString(msg, ""), tr.answered(true))
	}
	return fmt.Errorf("%s: %s", res.Model, msg)
}

// baseSetting names what set the endpoint of res's call, for a hint.
func baseSetting(res Resolved) string {
	if res.BaseURL != "" {
		return fmt.Sprintf("the base URL of alias %s (kitaru model register %s … --base-url URL)", res.Alias, res.Alias)
	}
	return cmpOr(providerInfos[res.Provider].baseVar, "the base URL")
}

// noPath says whether the URL a request went to is the base URL's host
// with only the client's own path (/chat/completions) after it: a base URL
// written without the API's version path.
func noPath(u string) bool {
	p, err := url.Parse(u)
	return err == nil && p.Path == "/chat/completions"
}

// answered describes the last answer for an error message, or says there
// was none.
func (t *callTransport) answered(status bool) string {
	if t.answer == nil {
		return "nothing"
	}
	return t.answer.describe(status, t.keys)
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

// redact hides the keys in text that may quote them, by the engine's
// rule: a value too short to be a real key would only mangle ordinary
// words.
func redact(s string, keys []string) string {
	for _, k := range keys {
		if keyring.Maskable(k) {
			s = strings.ReplaceAll(s, k, "***")
		}
	}
	return s
}

// permanentError carries an error that retrying will not fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string        { return e.err.Error() }
func (e *permanentError) Unwrap() error        { return e.err }
func (e *permanentError) Is(target error) bool { return target == ErrPermanent }

func permanent(err error) error { return &permanentError{err} }

// ollamaToolsError refuses tools for a model called through Ollama's native
// API: langchaingo's client for it (v0.1.14) sends no tools and reads no
// tool calls, so the model would answer as if it had none. Ollama's
// OpenAI-compatible endpoint, under /v1 of the same server, does both.
func (c *caller) ollamaToolsError(res Resolved) error {
	base := strings.TrimSuffix(c.baseURL(res), "/")
	alias := res.Alias
	if alias == "" {
		alias = "NAME"
	}
	return fmt.Errorf("%s cannot be offered tools: kitaru calls ollama/ models through Ollama's native API, which it speaks without tool calling, "+
		"so the model would answer as if it had none. Call it through Ollama's OpenAI-compatible endpoint instead: "+
		"kitaru model register %s --model openai/%s --base-url %s/v1, and name that alias in the step's model:", who(res), alias, res.Name, base)
}
