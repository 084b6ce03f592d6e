package demo

import (
	"errors"
	"time"

	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/example_app/internal/api"
	"github.com/replyrocket/gormsession/example_app/internal/store"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

var stepPool = step{
	title: "The pool running dry",
	intro: "A second handle on the same database gets a pool of exactly one connection (DB_POOL_SIZE=1, " +
		"DB_MAX_OVERFLOW=0) and DB_POOL_TIMEOUT=300ms. One transaction holds the connection; a query that needs another " +
		"waits 300ms, then fails with ErrPoolTimeout, category pool_exhausted, and a message saying which budget ran out " +
		"and how full the pool was (database/sql alone would wait forever). The API answers 503 with Retry-After.",
	run: func(e *env) {
		cfg := e.session
		cfg.PoolSize, cfg.MaxOverflow, cfg.PoolTimeout = 1, 0, 300*time.Millisecond
		cfg.LongRunningThreshold, cfg.IdleInTxThreshold = 0, 0
		st, err := store.Open(store.Options{URL: e.url, Session: cfg, Logger: e.log.Named("pool-demo"), TablePrefix: tablePrefix})
		if !e.check(err == nil, "open the one-connection handle: %v", err) {
			return
		}
		defer st.Close()

		held, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		go func() {
			done <- sessionplugin.Transaction(e.ctx, st.DB, func(tx *gorm.DB) error {
				if err := tx.Exec("SELECT 1").Error; err != nil {
					return err
				}
				close(held)
				<-release
				return nil
			})
		}()
		select {
		case <-held:
		case err := <-done:
			e.fail("the holding transaction failed: %v", err)
			return
		}
		e.say("a transaction holds the only connection")
		var n int64
		err = st.DB.WithContext(e.ctx).Model(&store.Contact{}).Count(&n).Error
		resp, retry := api.Respond(err)
		e.say("a query meanwhile: %s", errText(err))
		e.say("errors.Is(err, ErrPoolTimeout) = %v, Classify = %q → HTTP %d, Retry-After: %d",
			errors.Is(err, sessionplugin.ErrPoolTimeout), sessionplugin.Classify(err), resp.Status, retry)
		e.check(errors.Is(err, sessionplugin.ErrPoolTimeout), "want ErrPoolTimeout, got %v", err)
		e.check(sessionplugin.Classify(err) == sessionplugin.CategoryPoolExhausted, "want category pool_exhausted")
		e.check(resp.Status == 503 && retry > 0, "want 503 with Retry-After, got %d, %d", resp.Status, retry)
		e.check(e.logged("database statement failed", map[string]string{"category": "pool_exhausted"}), "no pool_exhausted log line")

		close(release)
		if err := <-done; !e.check(err == nil, "the holding transaction failed: %v", err) {
			return
		}
		err = st.DB.WithContext(e.ctx).Model(&store.Contact{}).Count(&n).Error
		e.say("the transaction committed and gave the connection back; the same query now works: %v", errText(err))
		e.check(err == nil, "the query still fails after the connection came back: %v", err)
	},
}
