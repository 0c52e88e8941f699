package widget

import "net/http"

// Routes mounts every widget route on mux.
func (s *Server) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /widget/frame", s.handleFrame)
	mux.HandleFunc("GET /widget/ws", s.handleWS)
	if s.deps.Assets.Static != nil {
		mux.Handle("GET /widget/v1/{file...}", s.deps.Assets.Static)
	}
}
