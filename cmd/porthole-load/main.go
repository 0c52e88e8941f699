// Command porthole-load opens visitor sockets against a running Porthole
// through the real path a browser takes (frame document, ticket, Origin,
// upgrade, hello/welcome) and reports server memory per idle socket,
// connects per second, cross-tab fan-out latency, and the overhead per
// streamed assistant token.
//
// It is a measurement tool for docs/benchmarks.md: every run is bounded in
// sockets and time, and it refuses targets outside 127.0.0.0/8.
//
//	porthole-load --target http://127.0.0.1:8080 --business ORG_ID --parent http://127.0.0.1:8081 \
//	  --metrics http://127.0.0.1:9091/metrics --sockets 15000 --sources 127.0.0.1,127.0.0.2 --mode idle
//
// Stream mode runs its own fake OpenAI-compatible provider, points the
// chatbot's assistant at it through the REST API (--api-key; the server
// needs --llm-allow-private-base-urls), and has every socket run turns back
// to back. Each token carries the time the provider wrote it; the report
// gives the latency to the visitor's read over the tokens stamped in the
// window after the warm-up, and again over each reply's last token. The
// load thus runs in another process than the server, unlike
// internal/assistant's BenchmarkStreamedTokenOverhead.
// The tool's garbage collector runs at GOGC 400 in this mode, so its
// pauses stay out of the receive times it measures.
//
//	porthole-load --target http://127.0.0.1:8080 --business ORG_ID --parent http://127.0.0.1:8081 \
//	  --mode stream --api-key ph_... --sockets 1000 --tokens 60 --token-interval 100ms --duration 60s
//
// Floor mode runs the same streams through a bare relay this tool starts
// in a process of its own instead of Porthole (floor.go): the part of the
// stream figure any server would pay on the host.
//
//	porthole-load --mode floor --sockets 1000 --tokens 60 --token-interval 100ms --duration 60s
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if u := os.Getenv(floorRelayEnv); u != "" {
		if err := runFloorRelay(u); err != nil {
			fmt.Fprintln(os.Stderr, "porthole-load: floor relay:", err)
			os.Exit(1)
		}
		return
	}
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "porthole-load:", err)
		os.Exit(2)
	}
	if limit, err := raiseFileLimit(); err != nil {
		fmt.Fprintln(os.Stderr, "porthole-load: cannot raise the open-file limit:", err)
	} else {
		fmt.Printf("open-file limit: %d\n", limit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, opts, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "porthole-load:", err)
		os.Exit(1)
	}
	rep.print(os.Stdout)
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("porthole-load", flag.ContinueOnError)
	var o options
	var sources string
	fs.StringVar(&o.Target, "target", "http://127.0.0.1:8080", "URL of a running Porthole (127.0.0.0/8 only)")
	fs.StringVar(&o.Business, "business", "", "business (organization) id, as printed by serve --demo")
	fs.StringVar(&o.Parent, "parent", "http://127.0.0.1:8081", "an origin on the business's allowlist")
	fs.StringVar(&o.Metrics, "metrics", "", "the server's Prometheus /metrics URL (serve --metrics-addr); empty skips memory")
	fs.IntVar(&o.Sockets, "sockets", 100, "sockets to open (sessions = sockets / tabs)")
	fs.IntVar(&o.Tabs, "tabs", 1, "sockets per visitor session (fanout needs 2)")
	fs.StringVar(&sources, "sources", "127.0.0.1", "comma-separated local addresses to dial from (127.0.0.x)")
	fs.StringVar(&o.Mode, "mode", "idle", "idle: open and hold sockets; fanout: also send one message per session and time its arrival on the other tab; "+
		"stream: every socket runs assistant turns against a fake provider and the latency of each streamed token is timed; "+
		"floor: stream's turns through a bare relay in Porthole's place, for the host's floor")
	fs.DurationVar(&o.Duration, "duration", 0, "idle: how long to hold the sockets after measuring; fanout: the longest wait for deliveries; "+
		"stream: the measurement window after --warmup (default 30s)")
	fs.IntVar(&o.Concurrency, "concurrency", 64, "connects in flight at once")
	fs.Float64Var(&o.Rate, "rate", 500, "fanout: messages per second")
	fs.DurationVar(&o.GCWait, "gc-wait", 0, "wait up to this long for a server GC cycle before each memory sample (the runtime forces one every 2 minutes); 0 samples at once")
	fs.DurationVar(&o.Settle, "settle", 5e9, "pause after the last connect before the memory sample")
	fs.StringVar(&o.APIKey, "api-key", "", "stream: a REST API key of the business (porthole admin create-api-key), to point its chatbot's assistant at the fake provider")
	fs.StringVar(&o.Chatbot, "chatbot", "", "stream: the chatbot to configure and chat with (default: the first listed, the frame's default); its assistant configuration is replaced")
	fs.StringVar(&o.ProviderListen, "provider-listen", "127.0.0.1:0", "stream: where the fake OpenAI-compatible provider listens (127.0.0.0/8)")
	fs.IntVar(&o.Tokens, "tokens", 60, "stream: tokens per reply")
	fs.DurationVar(&o.TokenInterval, "token-interval", 100*time.Millisecond, "stream: time between two tokens of a reply")
	fs.DurationVar(&o.Warmup, "warmup", 10*time.Second, "stream: tokens stamped within this time after the last connect are not measured (first turns start spread over it)")
	fs.DurationVar(&o.Think, "think", 0, "stream: a random pause in [0, think) between a turn's end and the socket's next message")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		// Flags after a stray word would be ignored silently.
		return o, fmt.Errorf("unexpected argument %q: every option is a flag (--name value)", fs.Arg(0))
	}
	o.Sources = splitList(sources)
	if o.Duration == 0 {
		o.Duration = 30e9
	}
	return o, o.validate()
}
