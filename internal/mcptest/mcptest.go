// Package mcptest is an MCP server for tests, made with the official Go
// SDK: over stdio in a test binary that re-executes itself (Main), or over
// streamable HTTP in the test's own process (Handler). Each call of a tool
// appends a line to COUNTER/TOOL, so that a test can count the calls
// across processes.
package mcptest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// EnvServe, set in a test binary's environment, makes Main serve over
// stdio; EnvCounter names the counter directory; EnvMayDie lets the die
// tool end the process (never in a test's own process).
const (
	EnvServe   = "KITARU_TEST_MCP_SERVER"
	EnvCounter = "KITARU_TEST_MCP_CALLS"
	EnvMayDie  = "KITARU_TEST_MCP_MAY_DIE"
	// EnvDeaf makes the stdio server stay up once its stdin is closed, as
	// a server that never reads it again does: only a signal ends it.
	EnvDeaf = "KITARU_TEST_MCP_DEAF"
)

// Main serves over stdio and exits when the test binary is run as a
// server (EnvServe set); it returns otherwise. Call it first in TestMain.
func Main() {
	if os.Getenv(EnvServe) == "" {
		return
	}
	fmt.Fprintln(os.Stderr, "test server up, token", os.Getenv("MCP_TOKEN"))
	err := New(os.Getenv(EnvCounter)).Run(context.Background(), &mcp.StdioTransport{})
	if os.Getenv(EnvDeaf) != "" {
		select {}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mcp test server:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Handler serves New(counter) over streamable HTTP.
func Handler(counter string) http.Handler {
	s := New(counter)
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
}

type readArgs struct {
	Path string `json:"path" jsonschema:"the file to read, relative to the server's directory"`
}

type addArgs struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}

type sum struct {
	Sum float64 `json:"sum"`
}

type envArgs struct {
	Name string `json:"name"`
}

// New is the server: read_file (text), add (structured), env (a variable
// of its environment, also written to its stderr), fail (a tool error)
// die (the process exits while the call runs) and hang (its first call
// never answers).
func New(counter string) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "kitaru-test", Version: "1"}, nil)
	count := func(tool string) {
		if counter == "" {
			return
		}
		f, err := os.OpenFile(filepath.Join(counter, tool), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err == nil {
			_, _ = f.WriteString("x\n")
			_ = f.Close()
		}
	}
	mcp.AddTool(s, &mcp.Tool{Name: "read_file", Description: "Read a text file."}, func(_ context.Context, _ *mcp.CallToolRequest, in readArgs) (*mcp.CallToolResult, any, error) {
		count("read_file")
		data, err := os.ReadFile(in.Path)
		if err != nil {
			return nil, nil, err // the SDK makes it a tool error
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(data)}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "add", Description: "Add two numbers."}, func(_ context.Context, _ *mcp.CallToolRequest, in addArgs) (*mcp.CallToolResult, sum, error) {
		count("add")
		return nil, sum{in.A + in.B}, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "env", Description: "A variable of the server's environment."}, func(_ context.Context, _ *mcp.CallToolRequest, in envArgs) (*mcp.CallToolResult, any, error) {
		count("env")
		v := os.Getenv(in.Name)
		fmt.Fprintf(os.Stderr, "env %s is %s\n", in.Name, v)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: v}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "fail", Description: "Always fails."}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		count("fail")
		return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "the disk is on fire"}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "die", Description: "Ends the server."}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		count("die")
		if os.Getenv(EnvMayDie) != "" {
			os.Exit(3)
		}
		return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "not allowed to die here"}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "hang", Description: "Its first call never ends; later ones answer."}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		count("hang")
		if counter != "" && calls(counter, "hang") == 1 {
			// The server's pid, for a test to see whether it lives on.
			_ = os.WriteFile(filepath.Join(counter, "hang.pid"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600)
			select {}
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done at last"}}}, nil, nil
	})
	return s
}

// calls is how many times tool was called, as its counter file says.
func calls(counter, tool string) int {
	data, _ := os.ReadFile(filepath.Join(counter, tool))
	return strings.Count(string(data), "\n")
}
