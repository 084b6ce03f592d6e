package reliability

import (
	"context"
	"errors"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
	sessiontest "github.com/replyrocket/gormsession/testing"
)

// TestTxEndHonoursDeadline is the smallest form of what the blackhole
// scenario found: a COMMIT (or ROLLBACK) whose packets vanish must end at
// the transaction's deadline, and not whenever the network comes back. One
// transaction, no load: the insert goes through, then the proxy starts
// swallowing traffic, so the COMMIT or ROLLBACK is sent into the
// blackhole. The proxy heals after healAfter whatever happens, so a
// Transaction that ignores its deadline returns then, late, instead of
// hanging the test.
func TestTxEndHonoursDeadline(t *testing.T) {
	t.Parallel()
	const (
		deadline  = time.Second
		healAfter = 6 * time.Second
		slack     = 2 * time.Second // a loaded machine's scheduling, no more
	)
	errBusiness := errors.New("business rule says no")
	ends := []struct {
		name  string
		fnErr error // what fn returns after the insert
		// want checks Transaction's error.
		want func(error) bool
		what string
	}{
		{"commit", nil, func(err error) bool {
			return sessionplugin.Classify(err) == sessionplugin.CategoryCommitUnknown
		}, "commit_unknown: the COMMIT was sent and its answer never came"},
		{"rollback", errBusiness, func(err error) bool {
			return errors.Is(err, errBusiness)
		}, "fn's own error"},
	}
	for _, kind := range []testdb.Kind{testdb.Postgres, testdb.MySQL} {
		for _, end := range ends {
			t.Run(string(kind)+"/"+end.name, func(t *testing.T) {
				t.Parallel()
				s := throughProxy(t, kind, sessionplugin.DefaultConfig())
				db, proxy := s.db, s.proxy

				heal := time.AfterFunc(healAfter, func() { proxy.SetBlackhole(false) })
				defer heal.Stop()
				start := time.Now()
				err := sessionplugin.Transaction(context.Background(), db, func(tx *gorm.DB) error {
					if err := tx.Create(&row{Attempt: 1}).Error; err != nil {
						return err
					}
					proxy.SetBlackhole(true) // the COMMIT or ROLLBACK goes into it
					return end.fnErr
				}, sessionplugin.WithTxTimeout(deadline))
				took := time.Since(start)
				proxy.SetBlackhole(false)
				t.Logf("Transaction with WithTxTimeout(%s), %s blackholed: returned after %s: %s %v",
					deadline, end.name, took.Round(time.Millisecond), sessionplugin.Classify(err), err)
				if took > deadline+slack {
					t.Errorf("Transaction returned %s after it began, past its %s deadline (+%s slack): "+
						"the %s waited for the network instead of ending at the deadline", took.Round(time.Millisecond), deadline, slack, end.name)
				}
				if !end.want(err) {
					t.Errorf("Transaction returned %q (%v), want %s", sessionplugin.Classify(err), err, end.what)
				}
				sessiontest.VerifyNoLeaks(t, db)
			})
		}
	}
}
