package worker

import (
	"testing"
	"time"

	"github.com/replyrocket/gormsession/example_app/internal/apptest"
	"github.com/replyrocket/gormsession/example_app/internal/store"
	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
	sessiontest "github.com/replyrocket/gormsession/testing"
)

// TestOutage cuts the worker off its database server mid-run (refused
// dials, reset connections) and brings it back: claims fail and are waited
// out (the breaker opens and closes), outcomes that could not be recorded
// are recorded later, and every email is still sent exactly once.
func TestOutage(t *testing.T) {
	for _, kind := range []testdb.Kind{testdb.Postgres, testdb.MySQL} {
		t.Run(string(kind), func(t *testing.T) {
			tg := testdb.Fresh(t, kind)
			url := apptest.ToURL(t, tg)
			direct := open(t, url, nil, testLog(t))
			const n = 150
			seed(t, direct, n)

			proxy, err := sessiontest.NewFaultProxy(tg.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer proxy.Close()
			purl, err := store.WithHost(url, proxy.Addr())
			if err != nil {
				t.Fatal(err)
			}
			cfg := sessionplugin.DefaultConfig()
			cfg.QueryTimeout, cfg.PoolTimeout, cfg.TransactionTimeout = time.Second, time.Second, 2*time.Second
			cfg.Breaker.ConsecutiveFailures, cfg.Breaker.OpenTimeout = 2, 300*time.Millisecond
			viaProxy := open(t, purl, &cfg, testLog(t))

			sender := &recSender{delay: 2 * time.Millisecond}
			obs := newObs()
			wcfg := Config{Loops: 2, Batch: 5, Poll: 20 * time.Millisecond, RetryBase: 20 * time.Millisecond}
			stop := run(New(viaProxy.DB, viaProxy.Kind, sender, wcfg, testLog(t), obs))
			defer func() {
				if stop != nil {
					stop()
				}
			}()
			waitFor(t, 30*time.Second, "some emails sent", func() bool { return len(sender.counts()) >= 20 })

			proxy.SetRefuse(true)
			proxy.ResetAll()
			waitFor(t, 30*time.Second, "claims failing", func() bool { return obs.claimFailures() >= 3 })
			if st := viaProxy.Plugin.Breaker("primary").Status(); st.Transitions == 0 {
				t.Errorf("the breaker never changed state during the outage: %+v", st)
			}
			proxy.SetRefuse(false)

			waitFor(t, time.Minute, "every email sent after the outage", func() bool {
				return statuses(t, direct)[store.StatusSent] == n
			})
			stop()
			stop = nil
			for id, c := range sender.counts() {
				if c != 1 {
					t.Errorf("email %d sent %d times", id, c)
				}
			}
			if len(sender.counts()) != n {
				t.Errorf("%d emails sent, want %d", len(sender.counts()), n)
			}
			if s := statuses(t, direct); s[store.StatusSending] != 0 {
				t.Errorf("emails left in sending: %v", s)
			}
		})
	}
}
