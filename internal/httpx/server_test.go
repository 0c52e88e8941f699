package httpx

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNewServerCaps(t *testing.T) {
	logger, _ := newLogger()
	srv := NewServer("127.0.0.1:0", http.NotFoundHandler(), ServerOptions{Logger: logger})
	tests := []struct {
		name      string
		got, want any
	}{
		{name: "read header timeout", got: srv.ReadHeaderTimeout, want: 10 * time.Second},
		{name: "read timeout", got: srv.ReadTimeout, want: 30 * time.Second},
		{name: "write timeout", got: srv.WriteTimeout, want: 60 * time.Second},
		{name: "idle timeout", got: srv.IdleTimeout, want: 120 * time.Second},
		{name: "max header bytes", got: srv.MaxHeaderBytes, want: 64 << 10},
		{name: "error log set", got: srv.ErrorLog != nil, want: true},
		{name: "addr", got: srv.Addr, want: "127.0.0.1:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestChainOrder(t *testing.T) {
	var order []string
	mark := func(name string) Middleware {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				order = append(order, name)
				next.ServeHTTP(w, r)
			})
		}
	}
	h := Chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { order = append(order, "handler") }),
		mark("first"), mark("second"))
	h.ServeHTTP(nil, nil)
	if got := strings.Join(order, ","); got != "first,second,handler" {
		t.Fatalf("order = %s", got)
	}
}
