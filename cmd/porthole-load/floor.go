package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// Floor mode measures the host, not Porthole: stream mode's fake provider,
// sockets and turns, with a bare relay in Porthole's place. The relay runs
// in a process of its own, as the server does; for each message on its
// WebSocket it streams a chat completion from the provider and writes
// every content chunk to the socket as a delta frame, the same hops (SSE
// over loopback HTTP, JSON decoding, one WebSocket write per token) with
// nothing else: no store, no audit, no widget protocol. What it measures is
// the part of stream mode's figure that any server would pay on this host.
//
//	porthole-load --mode floor --sockets 1000 --tokens 60 --token-interval 100ms --duration 60s

// floorRelayEnv, set to the fake provider's chat-completions URL, makes
// this binary the relay (see main; the tests' TestMain does the same).
const floorRelayEnv = "PORTHOLE_LOAD_FLOOR_RELAY"

// floorRelay is the relay child process of a floor-mode run.
type floorRelay struct {
	cmd   *exec.Cmd
	addr  string // where its WebSocket listens
	start time.Time
	done  chan error
}

// startFloorRelay starts this binary as the relay for the provider at
// completionsURL and waits for it to say where it listens.
func startFloorRelay(ctx context.Context, completionsURL string) (*floorRelay, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("floor relay: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), floorRelayEnv+"="+completionsURL)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("floor relay: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("floor relay: %w", err)
	}
	r := &floorRelay{cmd: cmd, start: time.Now(), done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		addr <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, out)
		r.done <- cmd.Wait()
	}()
	select {
	case a := <-addr:
		if _, _, err := net.SplitHostPort(a); err != nil {
			r.stop()
			return nil, fmt.Errorf("floor relay: it said %q instead of its address", a)
		}
		r.addr = a
		return r, nil
	case <-ctx.Done():
		r.stop()
		return nil, ctx.Err()
	case <-time.After(10 * time.Second):
		r.stop()
		return nil, errors.New("floor relay: no address within 10s")
	}
}

// stop ends the relay and returns the CPU it used, as a share of one CPU
// over its life.
func (r *floorRelay) stop() float64 {
	_ = r.cmd.Process.Signal(os.Interrupt)
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
	st := r.cmd.ProcessState
	if st == nil {
		return 0
	}
	return (st.UserTime() + st.SystemTime()).Seconds() / time.Since(r.start).Seconds()
}

// runFloorRelay serves the relay on a free loopback port until interrupted;
// its first line of output is the address.
func runFloorRelay(completionsURL string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	srv := &http.Server{Handler: floorRelayHandler(completionsURL), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// floorRelayHandler serves the relay's sockets at /ws: each message
// starts a turn.
func floorRelayHandler(completionsURL string) http.Handler {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: maxStreams, DisableCompression: true}}
	up := websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		s := &relaySocket{c: c, client: client, url: completionsURL}
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
			go s.turn()
		}
	})
	return mux
}

// relaySocket is one visitor socket of the relay.
type relaySocket struct {
	c      *websocket.Conn
	client *http.Client
	url    string
	mu     sync.Mutex // one write at a time
}

// turn streams one completion to the socket: a delta frame per content
// chunk, then turn_end.
func (s *relaySocket) turn() {
	status := "done"
	if err := s.stream(); err != nil {
		status = "error"
	}
	_ = s.write([]byte(`{"type":"turn_end","status":"` + status + `"}`))
}

func (s *relaySocket) stream() error {
	resp, err := s.client.Post(s.url, "application/json", strings.NewReader(`{"model":"`+fakeModel+`","stream":true}`))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("provider status %d", resp.StatusCode)
	}
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		data, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("data: "))
		if !ok {
			continue
		}
		if string(data) == "[DONE]" {
			return nil
		}
		// A fresh chunk each time: decoding into a reused slice keeps what
		// the last chunk left in fields this one lacks (the finish chunk's
		// delta has no content).
		var chunk struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(data, &chunk); err != nil {
			return err
		}
		if len(chunk.Choices) == 0 || chunk.Choices[0].Delta.Content == "" {
			continue
		}
		frame, err := json.Marshal(struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}{"delta", chunk.Choices[0].Delta.Content})
		if err != nil {
			return err
		}
		if err := s.write(frame); err != nil {
			return err
		}
	}
}

func (s *relaySocket) write(frame []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return s.c.WriteMessage(websocket.TextMessage, frame)
}
