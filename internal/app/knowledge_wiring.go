package app

// Knowledge base wiring (issue 4), kept in this one file: the knowledge
// service with the SSRF-safe fetcher, its ingestion worker, and the body
// cap of the upload routes.

import (
	"net/http"
	"strings"

	"github.com/porthole-chat/porthole/internal/api"
	"github.com/porthole-chat/porthole/internal/fetch"
	"github.com/porthole-chat/porthole/internal/httpx"
	"github.com/porthole-chat/porthole/internal/knowledge"
)

// knowledgeUploadBytes caps one uploaded knowledge file (API and dashboard).
const knowledgeUploadBytes = knowledge.DefaultMaxUploadBytes

// openKnowledge builds the knowledge service and runs its worker as a
// service. Pages are fetched only through fetch.Client, whose refusals are
// security events. There is no embedder: retrieval is full text until an
// embeddings provider is configured (docs/knowledge.md).
func (a *App) openKnowledge() {
	fetcher := fetch.New(fetch.Options{Security: a.Security})
	a.Knowledge = knowledge.New(knowledge.Config{
		DB: a.DB, Fetcher: fetcher, Security: a.Security, Logger: a.Logger,
		MaxUploadBytes: knowledgeUploadBytes,
	})
	// The worker's Run returns only when the context ends; failed jobs are
	// marked failed on their source, store errors are logged and retried.
	a.AddService(knowledge.NewWorker(a.Knowledge, 0, 0))
}

// uploadPaths are the POST routes that take a knowledge file: the API's
// (api.UploadRoutePattern) and the dashboard's upload form. Each applies
// its own larger cap.
var uploadPaths = []struct{ prefix, suffix string }{
	{"/api/v1/chatbots/", "/knowledge/uploads"},
	{"/app/chatbots/", "/knowledge/upload"},
}

// isUpload reports whether r is a POST to one of uploadPaths, with one
// path segment (the chatbot id) between prefix and suffix.
func isUpload(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	for _, u := range uploadPaths {
		rest, ok := strings.CutPrefix(r.URL.Path, u.prefix)
		if !ok {
			continue
		}
		id, ok := strings.CutSuffix(rest, u.suffix)
		if ok && id != "" && !strings.Contains(id, "/") {
			return true
		}
	}
	return false
}

// bodyLimit is httpx.BodyLimit(n) for every request except the upload
// routes, which get the (larger) upload cap here and check their own file
// size. A nested BodyLimit can only tighten a cap, so the exemption has to
// be made where the global cap is applied.
func bodyLimit(n int64) httpx.Middleware {
	return func(next http.Handler) http.Handler {
		limited := httpx.BodyLimit(n)(next)
		uploads := httpx.BodyLimit(max(n, api.UploadBodyBytes(knowledgeUploadBytes)))(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if isUpload(r) {
				uploads.ServeHTTP(w, r)
				return
			}
			limited.ServeHTTP(w, r)
		})
	}
}
