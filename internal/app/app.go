// Package app assembles Porthole from its parts: it opens the store, the
// keys and the optional Redis, builds every HTTP surface behind the common
// middleware, and runs the server and the background services until the
// context ends. cmd/porthole and the end-to-end tests both run it.
//
// It is the only package besides cmd that knows every concrete type; it holds
// no business logic.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/porthole-chat/porthole/internal/assistant"
	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/config"
	"github.com/porthole-chat/porthole/internal/httpx"
	"github.com/porthole-chat/porthole/internal/knowledge"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/ratelimit"
	"github.com/porthole-chat/porthole/internal/secrets"
	"github.com/porthole-chat/porthole/internal/security"
	"github.com/porthole-chat/porthole/internal/store"
)

// Service is a long-lived background worker. Run returns when ctx ends (nil)
// or on a failure that should stop the process (an error).
type Service interface {
	Run(ctx context.Context) error
}

// ServiceFunc adapts a function to Service.
type ServiceFunc func(ctx context.Context) error

// Run calls f.
func (f ServiceFunc) Run(ctx context.Context) error { return f(ctx) }

// App is one running Porthole process's parts.
type App struct {
	Config   *config.Config
	Logger   *slog.Logger
	DB       *store.DB
	Keyring  *secrets.Keyring
	Vault    *secrets.Vault
	Redis    redis.UniversalClient // nil unless --redis-url
	Limiter  porthole.Limiter
	Security *security.Recorder
	Metrics  *prometheus.Registry
	Accounts *auth.Service
	// The Wake: the batching writer, the checkpoint signer and its key.
	AuditLog     *audit.Log
	Checkpointer *audit.Checkpointer
	// Knowledge is the chatbots' knowledge bases (issue 4; knowledge_wiring.go).
	Knowledge *knowledge.Service

	handler    http.Handler
	services   []Service
	chat       *chat.Service     // issue 5: set by mountWidget, served by the API's conversation routes
	assistant  *assistant.Engine // issue 4: set by newAssistant, served by the preview route and page
	onShutdown []func(context.Context) error
}

// Open opens the store (applying migrations), the master keys and Redis,
// and builds the HTTP handler. Every error is one line naming the problem.
func Open(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*App, error) {
	a := &App{Config: cfg, Logger: logger, Metrics: prometheus.NewRegistry()}
	a.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := ensureDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, store.Options{URL: cfg.DatabaseURL, DataDir: cfg.DataDir, Migrate: true, Logger: logger})
	if err != nil {
		return nil, err
	}
	a.DB = db
	if err := a.openKeys(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := a.openRedis(ctx); err != nil {
		db.Close()
		return nil, err
	}
	a.Security = security.NewRecorder(db, logger, a.Metrics)
	if a.Redis != nil {
		a.Limiter = ratelimit.NewRedis(a.Redis, "porthole:rl:")
	} else {
		mem := ratelimit.NewMemory()
		a.Limiter = mem
		a.services = append(a.services, mem)
	}
	if err := a.openAccounts(ctx); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.openAudit(); err != nil {
		a.Close()
		return nil, err
	}
	a.openKnowledge() // issue 4: knowledge service and its worker
	if err := a.buildHandler(ctx); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// ensureDataDir creates the data directory 0700 if it is missing.
func ensureDataDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("cannot create the data directory %s: %v", dir, errors.Unwrap(err))
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot use the data directory %s: %v", dir, errors.Unwrap(err))
	}
	if !fi.IsDir() {
		return fmt.Errorf("the data directory %s is not a directory", dir)
	}
	return nil
}

// openKeys loads the master keyring: inline from the environment, or from
// the key file, generated on first start when the database holds no
// encrypted data yet. A missing key for existing encrypted data stops
// start-up.
func (a *App) openKeys(ctx context.Context) error {
	dk := a.DB.DataKeys()
	var err error
	if a.Config.MasterKey != "" {
		a.Keyring, err = secrets.ParseKeyring(a.Config.MasterKey)
		if err != nil {
			return fmt.Errorf("invalid setting master-key (env PORTHOLE_MASTER_KEY): %v", err)
		}
		if err := secrets.CheckKeyringAvailable(ctx, dk, a.Keyring); err != nil {
			return err
		}
	} else {
		var generated bool
		a.Keyring, generated, err = secrets.LoadOrGenerateKeyringFile(ctx, dk, a.Config.MasterKeyFile)
		if err != nil {
			return err
		}
		if generated {
			a.Logger.Info("generated a master key for per-tenant secrets; back it up, losing it loses those secrets", "file", a.Config.MasterKeyFile)
			if a.DB.Dialect() == store.Postgres {
				a.Logger.Warn("every Porthole process sharing this PostgreSQL database needs the same master key; copy the file or set PORTHOLE_MASTER_KEY", "file", a.Config.MasterKeyFile)
			}
		}
	}
	a.Vault, err = secrets.NewVault(a.Keyring, dk)
	return err
}

// openAccounts builds the one account service (sessions, tokens, keys)
// shared by the API and the dashboard, and runs its background work.
func (a *App) openAccounts(ctx context.Context) error {
	key, err := auth.LoadOrCreateServerKey(filepath.Join(a.Config.DataDir, auth.ServerKeyFileName))
	if err != nil {
		return err
	}
	deps := auth.Deps{DB: a.DB, Limiter: a.Limiter, Recorder: a.Security, Logger: a.Logger}
	if a.Config.SMTPURL != "" {
		mailer, err := auth.NewSMTPMailer(a.Config.SMTPURL)
		if err != nil {
			return fmt.Errorf("invalid setting smtp-url: %v", err)
		}
		deps.Mailer = mailer
	}
	if a.Redis != nil {
		deps.Revocations = auth.RedisRevocations{Client: a.Redis, Prefix: "porthole:revoked:"}
	}
	a.Accounts, err = auth.New(ctx, auth.Config{PublicURL: a.Config.PublicURL, ServerKey: key}, deps)
	if err != nil {
		return err
	}
	a.AddService(a.Accounts)
	return nil
}

// openAudit loads the checkpoint signing key (kept apart from the
// database) and adds the Wake's writer, checkpointer and payload retention
// to the background services.
func (a *App) openAudit() error {
	key, err := audit.LoadOrCreateSigningKey(a.Config.AuditKeyFile)
	if err != nil {
		return err
	}
	a.AuditLog = audit.NewLog(a.DB.Audit(), audit.LogOptions{Logger: a.Logger})
	a.Checkpointer = audit.NewCheckpointer(a.DB.Audit(), key, audit.CheckpointPolicy{})
	a.AddService(a.AuditLog)
	a.AddService(a.Checkpointer)
	a.AddService(ServiceFunc(a.purgeAuditPayloads))
	return nil
}

// purgeAuditPayloads runs retention over the Wake hourly: each
// organization's payloads older than its window become commitments.
func (a *App) purgeAuditPayloads(ctx context.Context) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		ids, err := a.DB.OrganizationIDs(ctx)
		if err != nil && ctx.Err() == nil {
			a.Logger.Warn("audit retention: cannot list organizations", "err", err)
		}
		for _, id := range ids {
			settings, err := a.DB.Tenant(id).Settings(ctx)
			if err != nil {
				continue
			}
			n, err := audit.PurgeExpiredPayloads(ctx, a.DB.Audit(), settings, time.Now())
			if err != nil && ctx.Err() == nil {
				a.Logger.Warn("audit retention: purge failed", "org", id, "err", err)
			} else if n > 0 {
				a.Logger.Info("audit retention: payloads purged", "org", id, "entries", n)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (a *App) openRedis(ctx context.Context) error {
	if a.Config.RedisURL == "" {
		return nil
	}
	opts, err := redis.ParseURL(a.Config.RedisURL)
	if err != nil {
		return fmt.Errorf("invalid setting redis-url: %v", err)
	}
	client := redis.NewClient(opts)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		client.Close()
		return fmt.Errorf("cannot reach Redis at redis-url: %v", err)
	}
	a.Redis = client
	return nil
}

// Handler returns the whole HTTP surface behind the common middleware.
func (a *App) Handler() http.Handler { return a.handler }

// AddService adds a background worker run by Serve.
func (a *App) AddService(s Service) { a.services = append(a.services, s) }

// OnShutdown adds a hook run when Serve stops (close sockets, flush outboxes).
func (a *App) OnShutdown(fn func(context.Context) error) { a.onShutdown = append(a.onShutdown, fn) }

// Serve serves HTTP on ln (and metrics on metricsLn when not nil) and runs
// the background services until ctx ends, then shuts down gracefully:
// new connections stop, in-flight requests drain for up to the shutdown
// timeout, shutdown hooks run, services stop.
func (a *App) Serve(ctx context.Context, ln net.Listener, metricsLn net.Listener) error {
	srv := httpx.NewServer(ln.Addr().String(), a.handler, httpx.ServerOptions{Logger: a.Logger})
	g, gctx := errgroup.WithContext(ctx)
	svcCtx, stopServices := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServices()
	for _, s := range a.services {
		g.Go(func() error { return s.Run(svcCtx) })
	}
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	var metricsSrv *http.Server
	if metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(a.Metrics, promhttp.HandlerOpts{}))
		metricsSrv = httpx.NewServer(metricsLn.Addr().String(), mux, httpx.ServerOptions{Logger: a.Logger})
		g.Go(func() error {
			if err := metricsSrv.Serve(metricsLn); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		a.Logger.Info("shutting down", "timeout", a.Config.ShutdownTimeout)
		shutCtx, cancel := context.WithTimeout(context.Background(), a.Config.ShutdownTimeout)
		defer cancel()
		for _, fn := range a.onShutdown {
			if err := fn(shutCtx); err != nil {
				a.Logger.Warn("shutdown hook", "err", err)
			}
		}
		err := srv.Shutdown(shutCtx)
		if metricsSrv != nil {
			_ = metricsSrv.Shutdown(shutCtx)
		}
		stopServices()
		if errors.Is(err, context.DeadlineExceeded) {
			a.Logger.Warn("requests still running at the shutdown timeout were cut off")
			return nil
		}
		return err
	})
	return g.Wait()
}

// Close releases the store and Redis.
func (a *App) Close() error {
	if a.Redis != nil {
		a.Redis.Close()
	}
	if a.DB != nil {
		return a.DB.Close()
	}
	return nil
}
