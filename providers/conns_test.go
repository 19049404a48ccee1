package providers

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Calls made 16 at a time, round after round, reuse their connections: a
// run at --parallel 16 opens about 16 connections to a provider, not one
// per call (Go's default keeps only 2 idle per host, so the other 14 of
// each round were closed and opened again).
func TestConnectionsAreReusedUpToTheParallelCalls(t *testing.T) {
	t.Parallel()
	var opened atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		time.Sleep(20 * time.Millisecond) // all 16 of a round are in flight at once
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, openAIReply)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	// A response timeout of its own: a transport no other test shares.
	c := New(Registry{}, Options{ResponseTimeout: 97 * time.Second,
		Getenv: envOf(map[string]string{"OPENAI_BASE_URL": srv.URL + "/v1", "OPENAI_API_KEY": "sk-test"})})
	const parallel, rounds = 16, 4
	for range rounds {
		var wg sync.WaitGroup
		for range parallel {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.Call(context.Background(), Request{Model: "openai/gpt-4o-mini", Messages: msgs()}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	if n := opened.Load(); n > parallel+2 {
		t.Fatalf("%d calls, %d at a time, opened %d connections; want about %d", parallel*rounds, parallel, n, parallel)
	}
}
