package providers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// rawServer answers every request with the given status, content type and
// body, as a misbehaving provider or a proxy in front of one would.
func rawServer(t *testing.T, status int, contentType, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// An answer above the cap fails the call at once, naming the URL and the
// cap, without retrying and without reading (or holding) the rest.
func TestAnswerLargerThanCapFails(t *testing.T) {
	// Not parallel: it measures what the whole process allocates.
	const total = 64 << 20
	chunk := []byte(strings.Repeat("x", 32<<10))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"`)
		for sent := 0; sent < total; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return // the client stopped reading
			}
		}
		io.WriteString(w, `"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}`)
	}))
	defer srv.Close()
	var s sleeps
	c := New(Registry{}, Options{Getenv: envOf(map[string]string{"OPENAI_BASE_URL": srv.URL + "/v1", "OPENAI_API_KEY": "k"}),
		Sleep: s.sleep, MaxResponseBytes: 1 << 20})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	resp, err := c.Call(context.Background(), Request{Model: "openai/gpt-4o-mini", Messages: msgs()})
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatalf("a %d MiB answer was accepted (%d bytes of text) with a 1 MiB cap", total>>20, len(resp.Text))
	}
	for _, w := range []string{srv.URL + "/v1/chat/completions", "larger than 1MiB", "OPENAI_BASE_URL", `beginning "{\"id\"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if !errors.Is(err, ErrPermanent) {
		t.Errorf("an oversized answer is not permanent, so a step's retry would fetch it again: %v", err)
	}
	if len(s.d) != 0 {
		t.Errorf("the oversized answer was retried (%v)", s.d)
	}
	// The test's own server allocates too; the bound only has to tell a
	// capped read from reading all 64 MiB.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 24<<20 {
		t.Errorf("the call allocated %d MiB for a 1 MiB cap", grew>>20)
	}
}

// An answer of exactly the cap is read whole.
func TestAnswerAtCapIsRead(t *testing.T) {
	t.Parallel()
	f := newFake(t, reply{body: openAIReply})
	c := New(Registry{}, Options{Getenv: envOf(map[string]string{"OPENAI_BASE_URL": f.URL, "OPENAI_API_KEY": "k"}),
		MaxResponseBytes: int64(len(openAIReply))})
	if _, err := c.Call(context.Background(), Request{Model: "openai/gpt-4o-mini", Messages: msgs()}); err != nil {
		t.Fatalf("an answer exactly at the cap failed: %v", err)
	}
}

// An answer the library cannot decode is quoted: status, content type and
// how it began, instead of the decoder's bare "unexpected EOF".
func TestUndecodableAnswerSaysWhatCame(t *testing.T) {
	t.Parallel()
	const key = "sk-echoed-secret-value-42"
	html := "<html><head><title>502 Bad Gateway</title></head><body>" + strings.Repeat("nginx ", 100) + "</body></html>"
	tests := []struct {
		name        string
		model       string
		status      int
		contentType string
		body        string
		want        []string
		notWant     []string
	}{
		{name: "openai truncated", model: "openai/gpt-4o-mini", status: 200, contentType: "application/json",
			body: `{"id":"c1","object":"chat.completion","choices":[{"index":0,"mess`,
			want: []string{"cannot read the answer from", "/chat/completions", "unexpected EOF", "200 OK", "Content-Type application/json", "65 bytes", `beginning "{\"id\":\"c1\"`}},
		{name: "openai html with 200", model: "openai/gpt-4o-mini", status: 200, contentType: "text/html",
			body: html, want: []string{"invalid character '<'", "200 OK", "Content-Type text/html", `beginning "<html><head><title>502 Bad Gateway`, "…"},
			notWant: []string{strings.Repeat("nginx ", 40)}},
		{name: "openai empty 200", model: "openai/gpt-4o-mini", status: 200, contentType: "application/json",
			body: "", want: []string{"200 OK", "empty body"}},
		{name: "anthropic truncated", model: "anthropic/claude-sonnet-4-0", status: 200, contentType: "application/json",
			body: `{"id":"m1","type":"message","content":[`, want: []string{"/v1/messages", "unexpected EOF", `beginning "{\"id\":\"m1\"`}, notWant: []string{"parse response"}},
		{name: "ollama html", model: "ollama/llama3.2", status: 200, contentType: "text/html",
			body: html, want: []string{"/api/chat", "Content-Type text/html", `beginning "<html>`}},
		{name: "openai 502 html", model: "openai/gpt-4o-mini", status: 502, contentType: "text/html",
			body: html, want: []string{"HTTP 502", "HTTP 502 after 4 attempts: Content-Type text/html", `beginning "<html>`}},
		{name: "anthropic 503 html", model: "anthropic/claude-sonnet-4-0", status: 503, contentType: "text/html",
			body: "<h1>down</h1>", want: []string{"HTTP 503", `beginning "<h1>down</h1>"`}},
		{name: "openai no choices", model: "openai/gpt-4o-mini", status: 200, contentType: "application/json",
			body: `{"id":"c1","choices":[]}`, want: []string{"200 OK", `beginning "{\"id\":\"c1\",\"choices\":[]}"`}},
		{name: "echoed key is masked", model: "openai/gpt-4o-mini", status: 200, contentType: "text/plain",
			body: "Authorization: Bearer " + key, want: []string{`"Authorization: Bearer ***"`}, notWant: []string{key}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := rawServer(t, tt.status, tt.contentType, tt.body)
			env := map[string]string{"OPENAI_BASE_URL": srv.URL + "/v1", "ANTHROPIC_BASE_URL": srv.URL, "OLLAMA_HOST": srv.URL,
				"OPENAI_API_KEY": key, "ANTHROPIC_API_KEY": key}
			c := New(Registry{}, Options{Getenv: envOf(env), Sleep: (&sleeps{}).sleep})
			_, err := c.Call(context.Background(), Request{Model: tt.model, Messages: msgs()})
			if err == nil {
				t.Fatal("the call succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error %q has %q", err, w)
				}
			}
		})
	}
}

// A wait the provider asks for that would pass the step's deadline, or
// kitaru's bound on waiting inside one call, fails the call at once and
// names the Retry-After, instead of sleeping into a bare timeout.
func TestRetryAfterBeyondWhatIsLeft(t *testing.T) {
	t.Parallel()
	inAnHour := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	tests := []struct {
		name       string
		status     int
		retryAfter string
		timeout    time.Duration // 0: no deadline
		want       []string
	}{
		{"seconds past the step's deadline", 429, "3600", 10 * time.Second,
			[]string{"HTTP 429", "Rate limit reached", "asked to wait 1h00m before trying again (Retry-After: 3600)", "longer than the 10.0s the step has left"}},
		{"http date past the step's deadline", 429, inAnHour, 10 * time.Second,
			[]string{"(Retry-After: " + inAnHour + ")", "the step has left"}},
		{"seconds without a deadline", 429, "3600", 0,
			[]string{"(Retry-After: 3600)", "kitaru waits at most 2m00s in all inside one call: try again later"}},
		{"http date without a deadline", 429, inAnHour, 0,
			[]string{"(Retry-After: " + inAnHour + ")", "at most 2m00s"}},
		{"backoff past the step's deadline", 503, "", 500 * time.Millisecond,
			[]string{"HTTP 503", "the next try would be in 1.0s, longer than the ", "ms the step has left"}}, // 500ms, less what the call took
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, reply{status: tt.status, header: map[string]string{"Retry-After": tt.retryAfter},
				body: `{"error":{"message":"Rate limit reached for gpt-4o-mini"}}`}, reply{body: openAIReply})
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			// Real sleeps: the point is that none happens.
			c := New(Registry{}, Options{Getenv: envOf(map[string]string{"OPENAI_BASE_URL": f.URL, "OPENAI_API_KEY": "k"})})
			start := time.Now()
			_, err := c.Call(ctx, Request{Model: "openai/gpt-4o-mini", Messages: msgs()})
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("the call took %s; it should fail at once", took)
			}
			if err == nil {
				t.Fatal("the call succeeded after a wait it should not have made")
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("the call slept into its deadline: %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if n := len(f.requests()); n != 1 {
				t.Errorf("server saw %d requests, want 1", n)
			}
		})
	}
}

// The waits of one call add up to at most maxRetryWait: a provider asking
// for 90s twice gets the first wait, and the call fails before the second.
func TestRetryWaitsBoundedPerCall(t *testing.T) {
	t.Parallel()
	f := newFake(t, reply{status: 429, header: map[string]string{"Retry-After": "90"}, body: `{"error":{"message":"slow down"}}`})
	var s sleeps
	c := New(Registry{}, Options{Getenv: envOf(map[string]string{"OPENAI_BASE_URL": f.URL, "OPENAI_API_KEY": "k"}), Sleep: s.sleep})
	_, err := c.Call(context.Background(), Request{Model: "openai/gpt-4o-mini", Messages: msgs()})
	if err == nil || !strings.Contains(err.Error(), "after 2 attempts") || !strings.Contains(err.Error(), "(Retry-After: 90)") {
		t.Fatalf("error = %v", err)
	}
	if fmt.Sprint(s.d) != "[1m30s]" {
		t.Errorf("waits = %v, want one of 1m30s", s.d)
	}
}

// A long key echoed in an answer that is not decodable is masked before
// the quoted head is cut: no piece of it is quoted, wherever the cut falls
// and however often the answer repeats it.
func TestUndecodableAnswerMasksAKeyAcrossTheCut(t *testing.T) {
	t.Parallel()
	key := "sk-proj-" + strings.Repeat("Ab3dEf7hIj", 16) // 168 characters
	for _, tt := range []struct {
		name   string
		status int
		body   string
	}{
		{"echoed header", 200, "Authorization: Bearer " + key + "\nHost: api"},
		{"key from the cut on", 200, strings.Repeat("p", headSize-10) + key},
		{"repeated key", 200, key + key + key + key},
		{"error page", 400, "<pre>Authorization: Bearer " + key + "</pre>"},
		{"server error", 502, strings.Repeat("<p>", 30) + key + key},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := rawServer(t, tt.status, "text/plain", tt.body)
			c := New(Registry{}, Options{Getenv: envOf(map[string]string{"OPENAI_BASE_URL": srv.URL + "/v1", "OPENAI_API_KEY": key}),
				Sleep: (&sleeps{}).sleep})
			_, err := c.Call(context.Background(), Request{Model: "openai/gpt-4o-mini", Messages: msgs()})
			if err == nil {
				t.Fatal("the call succeeded")
			}
			if !strings.Contains(err.Error(), "***") || !strings.Contains(err.Error(), "beginning") {
				t.Errorf("error %q does not quote the answer masked", err)
			}
			for i := 0; i+8 <= len(key); i++ {
				if strings.Contains(err.Error(), key[i:i+8]) {
					t.Fatalf("error quotes part of the key (%q at %d): %s", key[i:i+8], i, err)
				}
			}
		})
	}
}
