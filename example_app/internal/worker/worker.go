// Package worker is the background email sender (the seed's email.py):
// loops that claim queued emails in a sessionplugin.Transaction, hand them
// to a Sender, and record the outcome.
//
// An email is sent at most once. It is claimed (queued → sending) and
// committed before it is handed to the Sender, and only queued emails are
// ever claimed, so no other loop or process can pick it up meanwhile. If
// recording the outcome fails (the database went away after the send), the
// outcome is kept in memory and recorded later; the email stays in sending
// and is never handed out again. A claim whose COMMIT had an unknown
// outcome (category commit_unknown) is undone by its token once the database
// answers again. Infrastructure failures while claiming (connection,
// timeout, pool exhausted, breaker open) are waited out with backoff;
// temporary send failures are retried with exponential backoff up to
// MaxAttempts.
package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"
	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/example_app/internal/store"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// Config tunes the worker.
type Config struct {
	Loops        int           // concurrent claim loops; 0 runs none
	Batch        int           // emails per claim transaction
	Poll         time.Duration // idle wait between claims
	RetryBase    time.Duration // first retry delay after a temporary send failure
	MaxAttempts  int           // send attempts before an email fails
	BatchTimeout time.Duration // bounds one batch (claim, sends, records); 0 means 2m
}

// Observer receives the worker's events, for metrics. Outcomes are "sent",
// "retry", "failed", "released" and "unrecorded".
type Observer interface {
	EmailOutcome(outcome string)
	ClaimFailed(category string)
}

// Worker claims and sends queued emails.
type Worker struct {
	db      *gorm.DB
	kind    store.Kind
	sender  Sender
	cfg     Config
	log     *zap.Logger
	obs     Observer
	pending pending
}

// New returns a Worker; obs may be nil.
func New(db *gorm.DB, kind store.Kind, sender Sender, cfg Config, log *zap.Logger, obs Observer) *Worker {
	if cfg.Batch <= 0 {
		cfg.Batch = 10
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 500 * time.Millisecond
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 5 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.BatchTimeout <= 0 {
		cfg.BatchTimeout = 2 * time.Minute
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Worker{db: db, kind: kind, sender: sender, cfg: cfg, log: log, obs: obs, pending: pending{m: map[uint64]outcome{}, claims: map[string]bool{}}}
}

// Run runs the loops until ctx ends. Each loop finishes the batch it is
// working on (its claim transaction, the send in progress, and recording
// outcomes; claimed emails not yet handed to the Sender are released back to
// the queue), then Run records what is still pending and returns.
func (w *Worker) Run(ctx context.Context) {
	w.warnStale(ctx)
	var wg sync.WaitGroup
	for i := range w.cfg.Loops {
		wg.Go(func() { w.loop(ctx, i) })
	}
	wg.Wait()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	w.flush(fctx)
	if ids := w.pending.ids(); len(ids) > 0 {
		w.log.Error("outcomes not recorded at shutdown: these emails stay in sending and will not be sent again",
			zap.Uint64s("email_ids", ids))
	}
	if tokens := w.pending.claimTokens(); len(tokens) > 0 {
		w.log.Error("claims with an unknown commit outcome not released at shutdown: their emails, if any, stay in sending (never sent)",
			zap.Strings("claims", tokens))
	}
}

func (w *Worker) loop(ctx context.Context, n int) {
	log := w.log.With(zap.Int("loop", n))
	failures := 0
	for ctx.Err() == nil {
		got, err := w.batch(ctx, log)
		wait := w.cfg.Poll
		switch {
		case err != nil:
			failures++
			wait = w.errorWait(err, failures)
			cat := sessionplugin.Classify(err)
			if w.obs != nil {
				w.obs.ClaimFailed(string(cat))
			}
			log.Warn("claiming emails failed; retrying later", zap.String("category", string(cat)),
				zap.Duration("retry_in", wait), zap.Error(err))
		case got == w.cfg.Batch:
			failures, wait = 0, 0 // a full batch: there is probably more
		default:
			failures = 0
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
}

// errorWait is how long a loop waits after a failed claim: until the
// breaker lets a probe through when it is open, else exponential backoff
// from Poll, capped at 30s.
func (w *Worker) errorWait(err error, failures int) time.Duration {
	var open *breaker.OpenError
	if errors.As(err, &open) && open.RetryIn > 0 {
		return open.RetryIn
	}
	d := w.cfg.Poll << min(failures-1, 10)
	return min(d, 30*time.Second)
}

// batch claims, sends and records one batch. ctx only decides whether to
// start sending the next email: work already started finishes under its own
// deadline, so shutdown never abandons a transaction or a send half-way.
func (w *Worker) batch(ctx context.Context, log *zap.Logger) (int, error) {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.BatchTimeout)
	defer cancel()
	w.flush(bctx)
	token := newToken()
	emails, err := store.Claim(bctx, w.db, w.kind, time.Now().UTC(), w.cfg.Batch, token)
	if err != nil {
		if sessionplugin.Classify(err) == sessionplugin.CategoryCommitUnknown {
			// The claim may have committed: release whatever it took, later.
			w.pending.addClaim(token)
		}
		return 0, err
	}
	for i, e := range emails {
		if ctx.Err() != nil || bctx.Err() != nil {
			w.release(bctx, emails[i:], log)
			break
		}
		w.send(bctx, e, log)
	}
	return len(emails), nil
}

func (w *Worker) send(ctx context.Context, e store.Email, log *zap.Logger) {
	m := Message{EmailID: e.ID, CampaignID: e.CampaignID}
	if e.Contact != nil {
		m.To, m.Name = e.Contact.Email, e.Contact.Name
	}
	if e.Campaign != nil {
		m.Subject, m.Body = e.Campaign.Subject, e.Campaign.Body
	}
	err := w.sender.Send(ctx, m)
	now := time.Now().UTC()
	var o outcome
	switch {
	case err == nil:
		o = outcome{status: store.StatusSent, at: now}
	case IsTemporary(err) && e.Attempts < w.cfg.MaxAttempts:
		next := now.Add(w.cfg.RetryBase << min(e.Attempts-1, 16))
		o = outcome{status: store.StatusQueued, at: next, reason: err.Error()}
		log.Warn("send failed; will retry", zap.Uint64("email_id", e.ID), zap.Int("attempt", e.Attempts),
			zap.Time("next_attempt_at", next), zap.Error(err))
	default:
		o = outcome{status: store.StatusFailed, reason: err.Error()}
		log.Error("send failed; giving up", zap.Uint64("email_id", e.ID), zap.Int("attempt", e.Attempts), zap.Error(err))
	}
	if err := w.record(ctx, e.ID, o); err != nil {
		w.pending.add(e.ID, o)
		w.observe("unrecorded")
		log.Error("recording send outcome failed; will retry recording (the email is not sent again)",
			zap.Uint64("email_id", e.ID), zap.String("outcome", o.status),
			zap.String("category", string(sessionplugin.Classify(err))), zap.Error(err))
		return
	}
	w.observe(o.name())
}

// release puts claimed emails that were never handed to the Sender back in
// the queue.
func (w *Worker) release(ctx context.Context, emails []store.Email, log *zap.Logger) {
	ids := make([]uint64, len(emails))
	for i, e := range emails {
		ids[i] = e.ID
	}
	if err := store.Release(w.db.WithContext(ctx), ids); err != nil {
		for _, id := range ids {
			w.pending.add(id, outcome{status: store.StatusQueued, release: true})
		}
		log.Error("releasing unsent emails failed; will retry", zap.Uint64s("email_ids", ids), zap.Error(err))
		return
	}
	for range ids {
		w.observe("released")
	}
	log.Info("stopping: released claimed emails not yet sent", zap.Uint64s("email_ids", ids))
}

func (w *Worker) record(ctx context.Context, id uint64, o outcome) error {
	db := w.db.WithContext(ctx)
	switch {
	case o.release:
		return store.Release(db, []uint64{id})
	case o.status == store.StatusSent:
		ok, err := store.MarkSent(db, id, o.at)
		if err == nil && !ok {
			w.log.Warn("email was no longer in sending when recording it as sent", zap.Uint64("email_id", id))
		}
		return err
	case o.status == store.StatusQueued:
		return store.Requeue(db, id, o.at, o.reason)
	default:
		return store.MarkFailed(db, id, o.reason)
	}
}

// flush retries recording the outcomes that failed to record earlier.
func (w *Worker) flush(ctx context.Context) {
	if !w.pending.flushing.TryLock() {
		return // another loop is at it
	}
	defer w.pending.flushing.Unlock()
	for _, token := range w.pending.claimTokens() {
		n, err := store.ReleaseClaim(w.db.WithContext(ctx), token)
		if err != nil {
			return
		}
		w.pending.removeClaim(token)
		w.log.Info("released the emails of a claim whose commit outcome was unknown", zap.String("claim", token), zap.Int64("emails", n))
	}
	for id, o := range w.pending.snapshot() {
		if err := w.record(ctx, id, o); err != nil {
			return // still down; try again on the next batch
		}
		w.pending.remove(id)
		w.observe(o.name())
		w.log.Info("recorded a send outcome that failed to record earlier", zap.Uint64("email_id", id), zap.String("outcome", o.status))
	}
}

func (w *Worker) warnStale(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n, err := store.StaleSending(w.db.WithContext(sctx), time.Now().UTC().Add(-w.cfg.BatchTimeout))
	if err == nil && n > 0 {
		w.log.Warn("emails left in sending by a stopped process; they are not re-sent automatically (at most once): check them with your provider",
			zap.Int64("count", n))
	}
}

func newToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (w *Worker) observe(outcome string) {
	if w.obs != nil {
		w.obs.EmailOutcome(outcome)
	}
}
