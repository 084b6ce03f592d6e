// Package app wires the service together: the store (with gormsession),
// the worker, the HTTP API, and graceful shutdown.
package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/replyrocket/gormsession/example_app/internal/api"
	"github.com/replyrocket/gormsession/example_app/internal/config"
	"github.com/replyrocket/gormsession/example_app/internal/metrics"
	"github.com/replyrocket/gormsession/example_app/internal/store"
	"github.com/replyrocket/gormsession/example_app/internal/worker"
)

// Run serves until ctx ends (SIGINT/SIGTERM), then shuts down in order:
// the listener stops taking connections while in-flight requests finish and
// the worker finishes its current batch, both within cfg.ShutdownTimeout;
// then the plugin is closed and then the pools. It returns nil after a clean
// shutdown.
func Run(ctx context.Context, cfg config.Config, log *zap.Logger) (err error) {
	st, err := store.Open(store.Options{URL: cfg.DatabaseURL, ReplicaURLs: cfg.ReplicaURLs, Session: cfg.Session, Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		// After the worker and every request: p.Close(), then sqlDB.Close().
		if cerr := st.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close database: %w", cerr))
		}
	}()
	mctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = st.Migrate(mctx)
	cancel()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}

	m := metrics.New(st.Plugin.Collector())
	sender := &worker.LogSender{Log: log.Named("sender"), Delay: cfg.SenderDelay, FailEvery: cfg.SenderFailN}
	if cfg.SentLog != "" {
		f, err := os.OpenFile(cfg.SentLog, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("SENT_LOG: %w", err)
		}
		defer f.Close()
		sender.Record = f
	}
	w := worker.New(st.DB, st.Kind, sender, worker.Config{
		Loops: cfg.Workers, Batch: cfg.WorkerBatch, Poll: cfg.WorkerPoll,
		RetryBase: cfg.RetryBase, MaxAttempts: cfg.MaxAttempts,
	}, log.Named("worker"), m)
	handler := api.New(api.Deps{DB: st.DB, Plugin: st.Plugin, Log: log.Named("http"), Metrics: m,
		RequestTimeout: cfg.RequestTimeout}).Handler()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
	log.Info("listening", zap.String("addr", ln.Addr().String()), zap.String("database", st.Target.Redacted),
		zap.String("kind", string(st.Kind)), zap.Int("replicas", len(cfg.ReplicaURLs)), zap.Int("email_workers", cfg.Workers))

	wctx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorker()
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(wctx) })
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case <-ctx.Done():
		log.Info("shutting down: finishing in-flight requests and the worker's current batch",
			zap.Duration("timeout", cfg.ShutdownTimeout))
	case err := <-serveErr:
		stopWorker()
		wg.Wait()
		return fmt.Errorf("serve: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	stopWorker()
	shutErr := srv.Shutdown(sctx)
	if shutErr != nil {
		srv.Close()
		shutErr = fmt.Errorf("in-flight requests did not finish within %s: %w", cfg.ShutdownTimeout, shutErr)
	}
	<-serveErr // http.ErrServerClosed
	if !waitTimeout(&wg, sctx) {
		// The pools are closed anyway; the worker's statements then fail
		// and its outcomes stay pending (logged).
		shutErr = errors.Join(shutErr, errors.New("the worker did not finish its batch within SHUTDOWN_TIMEOUT"))
	}
	if shutErr == nil {
		log.Info("stopped cleanly")
	}
	return shutErr
}

// waitTimeout waits for wg until ctx ends; it reports whether wg finished.
func waitTimeout(wg *sync.WaitGroup, ctx context.Context) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}
