package main

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"strings"

	"github.com/porthole-chat/porthole/internal/config"
)

// errUsage means the flag package has already printed what was wrong.
var errUsage = errors.New("usage")

// parseFlags parses args with the settings' flags plus the command's own
// (added by extra), then loads the Config.
func parseFlags(e env, name string, args []string, extra func(fs *flag.FlagSet)) (*config.Config, *flag.FlagSet, error) {
	fs := flag.NewFlagSet("porthole "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	settings := config.RegisterFlags(fs)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, errUsage
		}
		return nil, nil, errUsage
	}
	cfg, err := settings.Load(e.getenv)
	if err != nil {
		return nil, nil, err
	}
	return cfg, fs, nil
}

func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\r", " ")
	return strings.ReplaceAll(s, "\n", " ")
}
