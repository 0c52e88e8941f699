package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// memorySample is the server's memory as its Prometheus /metrics reports it.
type memorySample struct {
	HeapInuse, StackInuse, RSS, Goroutines, GCCount float64
}

// metricNames are the unlabelled series read from /metrics.
var metricNames = []string{"go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes",
	"process_resident_memory_bytes", "go_goroutines", "go_gc_duration_seconds_count"}

func (l *loader) scrape(ctx context.Context) (memorySample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.opts.Metrics, nil)
	if err != nil {
		return memorySample{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return memorySample{}, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return memorySample{}, fmt.Errorf("metrics: status %d", resp.StatusCode)
	}
	v, err := parseMetrics(resp.Body)
	if err != nil {
		return memorySample{}, err
	}
	return memorySample{HeapInuse: v[metricNames[0]], StackInuse: v[metricNames[1]], RSS: v[metricNames[2]],
		Goroutines: v[metricNames[3]], GCCount: v[metricNames[4]]}, nil
}

// parseMetrics reads the metricNames from the Prometheus text format.
func parseMetrics(r io.Reader) (map[string]float64, error) {
	want := map[string]bool{}
	for _, n := range metricNames {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || !want[name] {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: %s: %w", name, err)
		}
		out[name] = f
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	for _, n := range metricNames {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("metrics: %s missing (is this Porthole's --metrics-addr?)", n)
		}
	}
	return out, nil
}

// sampleMemory waits (up to --gc-wait) for the server to finish a GC cycle,
// so garbage from the handshakes is not counted, then samples.
func (l *loader) sampleMemory(ctx context.Context, label string) (memorySample, error) {
	first, err := l.scrape(ctx)
	if err != nil || l.opts.GCWait == 0 {
		return first, err
	}
	fmt.Fprintf(l.out, "  %s: waiting up to %s for a server GC cycle\n", label, l.opts.GCWait)
	deadline := time.Now().Add(l.opts.GCWait)
	for time.Now().Before(deadline) {
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return first, ctx.Err()
		}
		s, err := l.scrape(ctx)
		if err != nil {
			return s, err
		}
		if s.GCCount > first.GCCount {
			// Let the background sweeper return the freed spans.
			time.Sleep(2 * time.Second)
			return l.scrape(ctx)
		}
	}
	fmt.Fprintf(l.out, "  %s: no GC cycle within %s; sampling anyway\n", label, l.opts.GCWait)
	return l.scrape(ctx)
}

// memoryDelta is the server's growth over a run's sockets.
type memoryDelta struct {
	Before, After memorySample
}

func (d memoryDelta) print(w io.Writer, sockets int) {
	if sockets == 0 {
		return
	}
	per := func(a, b float64) float64 { return (b - a) / float64(sockets) / 1024 }
	heapStack := per(d.Before.HeapInuse+d.Before.StackInuse, d.After.HeapInuse+d.After.StackInuse)
	fmt.Fprintf(w, "server memory per socket: heap+stack %.1f KB (heap %.1f KB, stack %.1f KB), RSS %.1f KB; goroutines %.0f -> %.0f (%.2f per socket)\n",
		heapStack, per(d.Before.HeapInuse, d.After.HeapInuse), per(d.Before.StackInuse, d.After.StackInuse),
		per(d.Before.RSS, d.After.RSS), d.Before.Goroutines, d.After.Goroutines,
		(d.After.Goroutines-d.Before.Goroutines)/float64(sockets))
}
