package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// serveGCPercent is the collector's target for the server: the heap may
// grow to five times what is live before a collection, instead of Go's
// twice. A collection's mark phase takes a share of the CPUs for tens of
// milliseconds (on two CPUs, Go runs its mark workers in slices of several
// milliseconds on both), and tokens that arrive meanwhile wait for it; a
// quarter of the collections is a quarter of those waits. At 1,000 streams
// the live heap is about 50 MB, so the heap peaks near 250 MB
// (docs/benchmarks.md, "Fifth session").
const serveGCPercent = 400

// memoryLimitShare is the part of the container's memory limit that the
// collector treats as its soft limit: it collects as often as it must to
// stay under it, so the larger target cannot outgrow the container.
const memoryLimitShare = 0.9

// collectorSettings decides the collector's target and soft memory limit
// (0: none) for the server. GOGC or GOMEMLIMIT in the environment are the
// operator's choice, which the runtime has applied already, and are kept.
// The limit comes from the cgroup (v2, then v1) under cgroupRoot.
func collectorSettings(lookupEnv func(string) (string, bool), cgroupRoot string) (percent int, limit int64) {
	percent = -1
	if _, set := lookupEnv("GOGC"); !set {
		percent = serveGCPercent
	}
	if _, set := lookupEnv("GOMEMLIMIT"); !set && percent > 0 {
		if n, ok := cgroupMemoryLimit(cgroupRoot); ok {
			limit = int64(float64(n) * memoryLimitShare)
		}
	}
	return percent, limit
}

// cgroupMemoryLimit reads the memory limit of the process's cgroup, if it
// has one: memory.max (cgroup v2; "max" means none) or
// memory/memory.limit_in_bytes (v1, where "none" is a huge number).
func cgroupMemoryLimit(root string) (int64, bool) {
	for _, name := range []string{"memory.max", filepath.Join("memory", "memory.limit_in_bytes")} {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || n <= 0 || n >= 1<<60 {
			return 0, false // "max", or v1's unlimited
		}
		return n, true
	}
	return 0, false
}

// tuneCollector applies collectorSettings and says what it set.
func tuneCollector(logger *slog.Logger) {
	percent, limit := collectorSettings(os.LookupEnv, "/sys/fs/cgroup")
	if percent < 0 {
		return
	}
	debug.SetGCPercent(percent)
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	logger.Info("collector tuned for streaming (GOGC and GOMEMLIMIT override)", "gc_percent", percent, "memory_limit_bytes", limit)
}
