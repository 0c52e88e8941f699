package main

import (
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestMain(m *testing.M) {
	if u := os.Getenv(floorRelayEnv); u != "" { // this test binary is floor mode's relay
		if err := runFloorRelay(u); err != nil {
			fmt.Fprintln(os.Stderr, "floor relay:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestFloorSmoke runs floor mode: the relay runs as a process of its own
// and reports its CPU, every turn ends done, and every measured token's
// stamp is parsed into a sane latency.
func TestFloorSmoke(t *testing.T) {
	opts, err := parseFlags([]string{"--mode", "floor", "--sockets", "5", "--concurrency", "5", "--duration", "2s",
		"--warmup", "0", "--tokens", "10", "--token-interval", "20ms", "--think", "300ms"})
	if err != nil {
		t.Fatal(err) // neither --business nor --api-key: floor mode needs no Porthole
	}
	r, st, out := runStreams(t, opts)
	if st.Measured == 0 || st.TurnsDone == 0 || st.Unfinished != 0 || st.ProviderRequests == 0 {
		t.Errorf("%d tokens measured, %d turns done, %d unfinished, %d provider requests; want tokens, turns and requests, none unfinished\n%s",
			st.Measured, st.TurnsDone, st.Unfinished, st.ProviderRequests, out.String())
	}
	if st.P50 <= 0 || st.Max < st.P99 || st.Max >= 5*time.Second {
		t.Errorf("latencies p50 %s p99 %s max %s; want positive, ordered and under 5s", st.P50, st.P99, st.Max)
	}
	if r.RelayCPU <= 0 || !strings.Contains(out.String(), "floor: the relay") {
		t.Errorf("relay CPU %.3f; want the relay's own process to report some\n%s", r.RelayCPU, out.String())
	}
	t.Log(out.String())
}

// The relay sends one delta per content chunk and nothing for the
// provider's finish and usage chunks, then turn_end.
func TestFloorRelayTurn(t *testing.T) {
	p, err := startFakeProvider("127.0.0.1:0", 3, 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer p.shutdown()
	srv := httptest.NewServer(floorRelayHandler(p.baseURL() + "chat/completions"))
	defer srv.Close()
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WriteMessage(websocket.TextMessage, []byte("go")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var deltas []string
	for {
		_, raw, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("after %d deltas: %v", len(deltas), err)
		}
		if strings.Contains(string(raw), `"turn_end"`) {
			if !strings.Contains(string(raw), `"done"`) {
				t.Fatalf("turn ended %s", raw)
			}
			break
		}
		deltas = append(deltas, string(raw))
	}
	if len(deltas) != 3 {
		t.Fatalf("%d delta frames for 3 tokens: %q", len(deltas), deltas)
	}
}
