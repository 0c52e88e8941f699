package main

import (
	"context"
	"fmt"
	"net"

	"github.com/porthole-chat/porthole/internal/app"
	"github.com/porthole-chat/porthole/internal/store"
)

func cmdServe(ctx context.Context, e env, args []string) error {
	cfg, _, err := parseFlags(e, "serve", args, nil)
	if err != nil {
		return err
	}
	logger := newLogger(e.stderr, cfg)
	tuneCollector(logger)
	tuneProcs(logger, cfg.DatabaseURL, cfg.DataDir)
	a, err := app.Open(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on addr %s: %v", cfg.Addr, err)
	}
	var metricsLn net.Listener
	if cfg.MetricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			ln.Close()
			return fmt.Errorf("cannot listen on metrics-addr %s: %v", cfg.MetricsAddr, err)
		}
	}
	if cfg.Demo {
		if err := a.StartDemo(ctx, e.stdout); err != nil {
			ln.Close()
			return err
		}
	}
	dialect := "SQLite in " + cfg.DataDir
	if a.DB.Dialect() == store.Postgres {
		dialect = "PostgreSQL"
	}
	logger.Info("porthole listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL, "store", dialect, "version", version)
	return a.Serve(ctx, ln, metricsLn)
}

func cmdMigrate(ctx context.Context, e env, args []string) error {
	cfg, _, err := parseFlags(e, "migrate", args, nil)
	if err != nil {
		return err
	}
	logger := newLogger(e.stderr, cfg)
	db, err := store.Open(ctx, store.Options{URL: cfg.DatabaseURL, DataDir: cfg.DataDir, Migrate: true, Logger: logger})
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintln(e.stdout, "migrations applied")
	return nil
}
