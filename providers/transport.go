package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// Retry policy: langchaingo does no retries, so kitaru does them here,
// below the client, where the status code and Retry-After are visible.
const (
	maxAttempts   = 4
	baseBackoff   = time.Second
	maxBackoff    = 30 * time.Second
	maxRetryAfter = 2 * time.Minute
)

// callTransport is the RoundTripper of one call: it removes the
// temperature langchaingo always sends when the step set none, retries
// transient failures, and remembers what happened for error messages.
type callTransport struct {
	base             http.RoundTripper
	sleep            func(context.Context, time.Duration) error
	stripTemperature bool

	// Written by RoundTrip, read by the caller after the client returns;
	// one call's requests are sequential.
	attempts   int
	lastURL    string
	lastNetErr error
	lastStatus int
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
	t.lastURL = req.URL.Redacted()
	for attempt := 1; ; attempt++ {
		r := req.Clone(req.Context())
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
			return resp, err
		}
		if err == nil && resp.StatusCode == http.StatusTooManyRequests && quotaExhausted(resp) {
			// Waiting will not refill an exhausted quota or credit.
			return resp, nil
		}
		delay := backoff(attempt)
		if resp != nil {
			if d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				delay = d
			}
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
		}
		if err := t.sleep(req.Context(), delay); err != nil {
			return nil, err
		}
	}
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
		return min(time.Duration(secs)*time.Second, maxRetryAfter), true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := max(t.Sub(now), 0)
		return min(d, maxRetryAfter), true
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
