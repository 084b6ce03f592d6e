package worker

import (
	"context"
	"testing"
	"time"

	"github.com/replyrocket/gormsession/example_app/internal/apptest"
	"github.com/replyrocket/gormsession/example_app/internal/store"
	"github.com/replyrocket/gormsession/internal/testdb"
)

var fast = Config{Loops: 3, Batch: 7, Poll: 10 * time.Millisecond, RetryBase: 10 * time.Millisecond, MaxAttempts: 10}

// TestNoEmailSentTwice runs two workers on two handles (as two processes
// would) against one database, with a sender that fails every fifth call,
// and checks that every email is sent exactly once.
func TestNoEmailSentTwice(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		url := apptest.URL(t, kind)
		a, b := open(t, url, nil, testLog(t)), open(t, url, nil, testLog(t))
		const n = 200
		seed(t, a, n)
		sender := &recSender{failEvery: 5}
		obs := newObs()
		stopA := run(New(a.DB, a.Kind, sender, fast, testLog(t), obs))
		stopB := run(New(b.DB, b.Kind, sender, fast, testLog(t), obs))
		waitFor(t, time.Minute, "every email sent", func() bool { return statuses(t, a)[store.StatusSent] == n })
		stopA()
		stopB()

		sent := sender.counts()
		if len(sent) != n {
			t.Errorf("%d distinct emails sent, want %d", len(sent), n)
		}
		for id, c := range sent {
			if c != 1 {
				t.Errorf("email %d sent %d times", id, c)
			}
		}
		if st := statuses(t, a); st[store.StatusSending] != 0 || st[store.StatusFailed] != 0 || st[store.StatusQueued] != 0 {
			t.Errorf("statuses after the run: %v", st)
		}
		if obs.outcomes["retry"] == 0 {
			t.Error("no send was retried; the failing sender should have caused retries")
		}
	})
}

// TestGivingUp: temporary failures are retried up to MaxAttempts, then the
// email fails; a permanent failure fails it at once.
func TestGivingUp(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		st := open(t, apptest.URL(t, kind), nil, testLog(t))
		seed(t, st, 3)
		cfg := fast
		cfg.MaxAttempts = 3
		stop := run(New(st.DB, st.Kind, &recSender{always: true}, cfg, testLog(t), nil))
		waitFor(t, 30*time.Second, "all failed", func() bool { return statuses(t, st)[store.StatusFailed] == 3 })
		stop()
		var emails []store.Email
		st.DB.Find(&emails)
		for _, e := range emails {
			if e.Attempts != 3 || e.LastError == "" {
				t.Errorf("email %d: %d attempts, last error %q; want 3 and a reason", e.ID, e.Attempts, e.LastError)
			}
		}
	})
	t.Run("permanent", func(t *testing.T) {
		st := open(t, apptest.URL(t, testdb.SQLite), nil, testLog(t))
		seed(t, st, 2)
		stop := run(New(st.DB, st.Kind, &recSender{permanent: true}, fast, testLog(t), nil))
		waitFor(t, 30*time.Second, "all failed", func() bool { return statuses(t, st)[store.StatusFailed] == 2 })
		stop()
		var e store.Email
		st.DB.First(&e)
		if e.Attempts != 1 {
			t.Errorf("a permanent failure was attempted %d times", e.Attempts)
		}
	})
}

// TestShutdownMidBatch: stopping the worker while a batch is being sent
// finishes the send in progress, releases the claimed emails not yet sent,
// and leaves nothing in sending.
func TestShutdownMidBatch(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		st := open(t, apptest.URL(t, kind), nil, testLog(t))
		const n = 30
		seed(t, st, n)
		sender := &recSender{delay: 30 * time.Millisecond}
		stop := run(New(st.DB, st.Kind, sender, Config{Loops: 1, Batch: 10, Poll: 10 * time.Millisecond}, testLog(t), nil))
		waitFor(t, 30*time.Second, "a first send", func() bool { return len(sender.counts()) > 0 })
		stop()

		s := statuses(t, st)
		sent := sender.counts()
		if s[store.StatusSending] != 0 {
			t.Errorf("%d emails left in sending", s[store.StatusSending])
		}
		if s[store.StatusSent] != int64(len(sent)) || s[store.StatusSent]+s[store.StatusQueued] != n {
			t.Errorf("statuses %v, sender sent %d: an email was lost or not recorded", s, len(sent))
		}
		if s[store.StatusQueued] == 0 {
			t.Fatalf("everything was sent before the stop took effect; the test proves nothing (statuses %v)", s)
		}
		var queued []store.Email
		st.DB.Where("status = ?", store.StatusQueued).Find(&queued)
		for _, e := range queued {
			if e.Attempts != 0 {
				t.Errorf("released email %d kept attempt count %d", e.ID, e.Attempts)
			}
		}
		// A new worker picks the released emails up.
		stop = run(New(st.DB, st.Kind, sender, fast, testLog(t), nil))
		waitFor(t, 30*time.Second, "the rest sent", func() bool { return statuses(t, st)[store.StatusSent] == n })
		stop()
		for id, c := range sender.counts() {
			if c != 1 {
				t.Errorf("email %d sent %d times", id, c)
			}
		}
	})
}

// TestClaimIsExclusive claims concurrently from many goroutines and checks
// no email is claimed twice (FOR UPDATE SKIP LOCKED, or the SQLite
// conditional UPDATE).
func TestClaimIsExclusive(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		st := open(t, apptest.URL(t, kind), nil, testLog(t))
		const n = 120
		seed(t, st, n)
		results := make(chan []store.Email)
		for range 6 {
			go func() {
				var mine []store.Email
				for {
					got, err := store.Claim(context.Background(), st.DB, st.Kind, time.Now().UTC(), 5, newToken())
					if err != nil {
						t.Error(err)
						break
					}
					if len(got) == 0 {
						break
					}
					mine = append(mine, got...)
				}
				results <- mine
			}()
		}
		seen := map[uint64]bool{}
		for range 6 {
			for _, e := range <-results {
				if seen[e.ID] {
					t.Errorf("email %d claimed twice", e.ID)
				}
				seen[e.ID] = true
				if e.Contact == nil || e.Campaign == nil || e.Status != store.StatusSending {
					t.Errorf("claimed email %d not loaded as sending: %+v", e.ID, e)
				}
			}
		}
		if len(seen) != n {
			t.Errorf("%d claimed, want %d", len(seen), n)
		}
	})
}

// TestUnknownCommitReleased: a claim whose COMMIT outcome was unknown (here:
// one that did commit, as far as the worker could not tell) is released by
// its token, and its emails are then sent once.
func TestUnknownCommitReleased(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		st := open(t, apptest.URL(t, kind), nil, testLog(t))
		const n = 12
		seed(t, st, n)
		token := newToken()
		got, err := store.Claim(context.Background(), st.DB, st.Kind, time.Now().UTC(), 5, token)
		if err != nil || len(got) != 5 {
			t.Fatalf("Claim = %d, %v", len(got), err)
		}
		sender := &recSender{}
		w := New(st.DB, st.Kind, sender, fast, testLog(t), nil)
		w.pending.addClaim(token) // as batch does on commit_unknown
		stop := run(w)
		waitFor(t, 30*time.Second, "every email sent", func() bool { return statuses(t, st)[store.StatusSent] == n })
		stop()
		if len(w.pending.claimTokens()) != 0 {
			t.Error("the claim token is still pending")
		}
		for id, c := range sender.counts() {
			if c != 1 {
				t.Errorf("email %d sent %d times", id, c)
			}
		}
		var e store.Email
		st.DB.First(&e, got[0].ID)
		if e.Attempts != 1 {
			t.Errorf("released email %d has %d attempts, want 1 (the release undid the lost claim's)", e.ID, e.Attempts)
		}
	})
}
