package pgstore

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/runstore/storetest"
	"github.com/kitaruhq/kitaru/internal/pgtest"
)

// server is the one PostgreSQL of the test binary; each test takes a
// schema of its own in it (nil: none could start, skip says why).
var (
	server *pgtest.Server
	skip   string
)

func TestMain(m *testing.M) {
	server, skip = pgtest.Shared()
	code := m.Run()
	if server != nil {
		server.Close()
	}
	os.Exit(code)
}

var schemas atomic.Int64

// freshSchema is a schema name no other test of the binary uses.
func freshSchema(t testing.TB) string {
	name := strings.ToLower(strings.NewReplacer("/", "_", "#", "_", " ", "_").Replace(t.Name()))
	if len(name) > 40 {
		name = name[:40]
	}
	return fmt.Sprintf("t%d_%s", schemas.Add(1), name)
}

func shared(t testing.TB) *pgtest.Server {
	t.Helper()
	if server == nil {
		t.Skip(skip)
	}
	return server
}

// newStore opens a store on a fresh schema of the shared server.
func newStore(t testing.TB, opt Options) *Store {
	t.Helper()
	srv := shared(t)
	if opt.Schema == "" {
		opt.Schema = freshSchema(t)
	}
	s, err := Open(context.Background(), srv.URL(), opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) runstore.Store { return newStore(t, Options{}) })
}
