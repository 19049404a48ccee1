package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/kitaruhq/kitaru/internal/humantime"
	"github.com/kitaruhq/kitaru/keyring"
)

// Retry policy: langchaingo does no retries, so kitaru does them here,
// below the client, where the status code and Retry-After are visible.
// maxRetryWait bounds all the waiting inside one call: a provider that asks
// for longer (Retry-After: 3600) is not worth holding a step for, so the
// call fails at once and says what the provider asked.
const (
	maxAttempts  = 4
	baseBackoff  = time.Second
	maxBackoff   = 30 * time.Second
	maxRetryWait = 2 * time.Minute
)

// DefaultMaxResponseBytes is the most kitaru reads of one provider answer:
// far above any real completion (a 100k-token answer is well under 1 MiB
// of JSON), small enough that a misbehaving server cannot exhaust memory.
const DefaultMaxResponseBytes = 32 << 20

// headSize is how much of an answer an error message quotes.
const headSize = 200

// callTransport is the RoundTripper of one call: it removes the
// temperature langchaingo always sends when the step set none, sets the
// alias's headers, retries transient failures, caps what is read of an
// answer, and remembers what happened for error messages.
type callTransport struct {
	base             http.RoundTripper
	sleep            func(context.Context, time.Duration) error
	stripTemperature bool
	maxBody          int64
	headers          http.Header // set on every request, over the client's
	dropHeader       string      // removed first: where the client put a stand-in key
	// keys are the credential values sent, longest first, masked in what
	// error messages quote of an answer.
	keys []string

	// set are top-level fields of the request body kitaru sets itself,
	// where langchaingo cannot say them for one call (see structured).
	set map[string]json.RawMessage

	// onRetry, when set, is told of each retry before its wait.
	onRetry func(Retry)
	// streaming: the request asks for a stream (see asStream).
	streaming bool
	// chunks, when set, reads the answer of a stream beside the client
	// (see stream_chunks.go).
	chunks *chunkReader

	// Written by RoundTrip, read by the caller after the client returns;
	// one call's requests are sequential.
	attempts   int
	lastURL    string
	lastNetErr error
	lastStatus int
	answer     *answerBody // the body of the last answer handed to the client
	gaveUp     *gaveUp     // why a retryable failure was not retried
	waited     time.Duration
}

// gaveUp is a retry kitaru did not make because its wait would pass the
// step's deadline or kitaru's bound on waiting inside one call.
type gaveUp struct {
	wait       time.Duration
	retryAfter string        // the header as sent; "" for kitaru's own backoff
	left       time.Duration // time the step had left; 0: it has no deadline
}

func (g *gaveUp) String() string {
	asked := fmt.Sprintf("the next try would be in %s", humantime.Duration(g.wait))
	if g.retryAfter != "" {
		asked = fmt.Sprintf("it asked to wait %s before trying again (Retry-After: %s)", humantime.Duration(g.wait), g.retryAfter)
	}
	if g.left > 0 {
		return fmt.Sprintf("%s, longer than the %s the step has left", asked, humantime.Duration(g.left))
	}
	return fmt.Sprintf("%s, and kitaru waits at most %s in all inside one call: try again later", asked, humantime.Duration(maxRetryWait))
}

func (t *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	if t.stripTemperature {
		body = withoutTemperature(body)
	}
	if len(t.set) > 0 {
		body = withFields(body, t.set)
	}
	t.lastURL = req.URL.Redacted()
	t.streaming = streams(body)
	for attempt := 1; ; attempt++ {
		r := req.Clone(req.Context())
		if t.dropHeader != "" {
			r.Header.Del(t.dropHeader)
		}
		for name, vals := range t.headers {
			r.Header[name] = vals
		}
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		}
		t.attempts++
		resp, err := t.base.RoundTrip(r)
		t.lastNetErr, t.lastStatus = nil, 0
		if err != nil {
			t.lastNetErr = err
		} else {
			t.lastStatus = resp.StatusCode
		}
		if attempt >= maxAttempts || !retryable(resp, err) || req.Context().Err() != nil {
			return t.capped(resp), err
		}
		if err == nil && resp.StatusCode == http.StatusTooManyRequests && quotaExhausted(resp) {
			// Waiting will not refill an exhausted quota or credit.
			return t.capped(resp), nil
		}
		delay, header := backoff(attempt), ""
		if resp != nil {
			header = resp.Header.Get("Retry-After")
			if d, ok := retryAfter(header, time.Now()); ok {
				delay = d
			} else {
				header = ""
			}
		}
		if g := t.tooLong(req.Context(), delay, header); g != nil {
			// Sleeping would end in a timeout that hides what the
			// provider said: hand its answer to the client instead.
			t.gaveUp = g
			return t.capped(resp), err
		}
		if resp != nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
		}
		if t.onRetry != nil {
			t.onRetry(Retry{Attempt: attempt + 1, MaxAttempts: maxAttempts, Status: t.lastStatus, Err: t.lastNetErr, Wait: delay})
		}
		if err := t.sleep(req.Context(), delay); err != nil {
			return nil, err
		}
		t.waited += delay
	}
}

// tooLong says why waiting delay before the next try is not worth it, or
// nil when it is.
func (t *callTransport) tooLong(ctx context.Context, delay time.Duration, header string) *gaveUp {
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); delay >= left {
			return &gaveUp{wait: delay, retryAfter: header, left: max(left, time.Millisecond)}
		}
	}
	if t.waited+delay > maxRetryWait {
		return &gaveUp{wait: delay, retryAfter: header}
	}
	return nil
}

// capped wraps the body the client will read in the size cap and keeps
// its head for error messages.
func (t *callTransport) capped(resp *http.Response) *http.Response {
	if resp == nil || resp.Body == nil {
		return resp
	}
	limit := t.maxBody
	if limit <= 0 {
		limit = DefaultMaxResponseBytes
	}
	if t.streaming {
		resp = asStream(resp, limit)
	}
	keyLen := 0
	for _, k := range t.keys {
		if keyring.Maskable(k) {
			keyLen = max(keyLen, len(k))
		}
	}
	// A key's length is kept beyond the head that is quoted, so that the
	// head is masked before it is cut (see answerBody.describe).
	t.answer = &answerBody{rc: resp.Body, limit: limit, keep: headSize + keyLen, status: resp.Status, contentType: resp.Header.Get("Content-Type")}
	resp.Body = t.answer
	if t.streaming && t.chunks != nil && resp.StatusCode == http.StatusOK {
		resp.Body = t.chunks.body(resp.Body)
	}
	return resp
}

// answerBody is a provider's answer as the client reads it: at most limit
// bytes (past that, reads fail with errAnswerTooLarge), with the first
// keep bytes kept for error messages.
type answerBody struct {
	rc          io.ReadCloser
	limit, n    int64
	keep        int
	head        []byte
	eof         bool
	tooLarge    bool
	status      string
	contentType string
}

// errAnswerTooLarge is what reading an answer past the cap fails with;
// the caller turns it into a sentence naming the URL and the cap.
var errAnswerTooLarge = errors.New("the answer is larger than kitaru reads")

func (b *answerBody) Read(p []byte) (int, error) {
	if b.tooLarge {
		return 0, errAnswerTooLarge
	}
	// One byte past the limit tells a body of exactly limit bytes from a
	// longer one.
	if rem := b.limit - b.n + 1; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if b.n > b.limit {
		b.tooLarge = true
		return 0, errAnswerTooLarge
	}
	if len(b.head) < b.keep {
		b.head = append(b.head, p[:min(n, b.keep-len(b.head))]...)
	}
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *answerBody) Close() error { return b.rc.Close() }

// describe says what the provider answered: status (with status), content
// type, how much was read and how its first headSize bytes read, with the
// keys sent masked. The head is masked before it is cut, or a key across
// the cut would not be matched and its start would be quoted: b keeps a
// key's length more than it quotes, and an end of what it kept that may
// begin a key (an answer repeating the key) is masked too.
func (b *answerBody) describe(status bool, keys []string) string {
	var parts []string
	if status {
		parts = append(parts, b.status)
	}
	if b.contentType != "" {
		parts = append(parts, "Content-Type "+b.contentType)
	}
	if b.eof {
		parts = append(parts, fmt.Sprintf("%d bytes", b.n))
	}
	head := redact(string(b.head), keys)
	if b.n > int64(len(b.head)) {
		for _, k := range keys {
			if keyring.Maskable(k) {
				head = maskKeyStart(head, k)
			}
		}
	}
	cut := len(head) > headSize || b.n > int64(len(b.head))
	if len(head) > headSize {
		k := headSize
		for k > 0 && !utf8.RuneStart(head[k]) {
			k--
		}
		head = head[:k]
	}
	switch {
	case len(b.head) == 0:
		parts = append(parts, "empty body")
	case cut:
		parts = append(parts, fmt.Sprintf("beginning %q…", head))
	default:
		parts = append(parts, fmt.Sprintf("beginning %q", head))
	}
	return redact(strings.Join(parts, ", "), keys)
}

// maskKeyStart masks the longest end of s that begins token.
func maskKeyStart(s, token string) string {
	for i := max(0, len(s)-len(token)+1); i < len(s); i++ {
		if strings.HasPrefix(token, s[i:]) {
			return s[:i] + "***"
		}
	}
	return s
}

// retryable: rate limits, server errors and dropped connections are worth
// another try; anything else (a bad key, a bad request, a server that is
// not there at all) will not get better by waiting.
func retryable(resp *http.Response, err error) bool {
	if err != nil {
		return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
	}
	return resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
}

// quotaExhausted peeks at a 429 body for OpenAI's (and OpenRouter's)
// "out of credit" error, which is not a rate limit. The body is put back
// for the client to decode.
func quotaExhausted(resp *http.Response) bool {
	if resp == nil || resp.Body == nil {
		return false
	}
	peek, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(peek), resp.Body), resp.Body}
	return bytes.Contains(peek, []byte("insufficient_quota"))
}

func backoff(attempt int) time.Duration {
	d := baseBackoff << (attempt - 1)
	return min(d, maxBackoff)
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, math.MaxInt32)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// withoutTemperature drops "temperature" from a JSON body, at the top
// (OpenAI, Anthropic) and under "options" (Ollama). A body that is not a
// JSON object passes unchanged.
func withoutTemperature(body []byte) []byte {
	var m map[string]json.RawMessage
	if len(body) == 0 || json.Unmarshal(body, &m) != nil {
		return body
	}
	changed := false
	if _, ok := m["temperature"]; ok {
		delete(m, "temperature")
		changed = true
	}
	if raw, ok := m["options"]; ok {
		var opts map[string]json.RawMessage
		if json.Unmarshal(raw, &opts) == nil {
			if _, ok := opts["temperature"]; ok {
				delete(opts, "temperature")
				if b, err := json.Marshal(opts); err == nil {
					m["options"] = b
					changed = true
				}
			}
		}
	}
	if !changed {
		return body
	}
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}

// withFields sets fields at the top of a JSON body, replacing what was
// there. A body that is not a JSON object passes unchanged.
func withFields(body []byte, fields map[string]json.RawMessage) []byte {
	var m map[string]json.RawMessage
	if len(body) == 0 || json.Unmarshal(body, &m) != nil {
		return body
	}
	maps.Copy(m, fields)
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}

// realSleep waits d or until ctx ends.
func realSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
