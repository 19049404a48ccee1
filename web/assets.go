package web

import (
	"embed"
	"io/fs"
	"net/http"
)

// The page is plain HTML, CSS and JavaScript, embedded as written: there
// is no build step, so `go build` alone makes a binary whose page works
// offline, and what is served is what is reviewed.
//
//go:embed assets
var assetFS embed.FS

func (s *Server) assets() {
	// "assets" is a valid name of the embedded tree: Sub cannot fail.
	sub, _ := fs.Sub(assetFS, "assets")
	files := http.FileServerFS(sub)
	index := func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, sub, "index.html")
	}
	// Every page is the one document; its script draws the page the path
	// names, so a run's address can be bookmarked and reloaded.
	s.mux.HandleFunc("GET /{$}", index)
	s.mux.HandleFunc("GET /runs/{id}", index)
	s.mux.HandleFunc("GET /runs/{id}/steps/{step}", index)
	s.mux.HandleFunc("GET /runs/{id}/steps/{step}/items/{item}", index)
	s.mux.HandleFunc("GET /compare", index)
	// No icon: an empty answer, not a 404 in the browser's console.
	s.mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	s.mux.Handle("GET /assets/", http.StripPrefix("/assets/", files))
}
