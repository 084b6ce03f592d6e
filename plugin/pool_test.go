package sessionplugin_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// With the only connection held by a transaction, a statement and a BEGIN
// each fail after PoolTimeout with ErrPoolTimeout and a message that says
// which budget ran out and what the pool looked like.
func TestPoolTimeout(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, p, _ := install(t, kind, func(c *sessionplugin.Config) {
			c.PoolSize, c.MaxOverflow, c.PoolTimeout = 1, 0, 150*time.Millisecond
		})
		holder := db.Begin()
		if holder.Error != nil {
			t.Fatal(holder.Error)
		}
		defer holder.Rollback()

		var it Item
		stmtErr := db.First(&it).Error
		txErr := sessionplugin.Transaction(context.Background(), db, func(tx *gorm.DB) error {
			t.Error("fn ran without a connection")
			return nil
		})
		for name, err := range map[string]error{"statement": stmtErr, "BEGIN": txErr} {
			if !errors.Is(err, sessionplugin.ErrPoolTimeout) {
				t.Fatalf("%s: err = %v, want ErrPoolTimeout", name, err)
			}
			if errors.Is(err, sessionplugin.ErrQueryTimeout) {
				t.Errorf("%s: pool timeout also claims a query timeout: %v", name, err)
			}
			if c := sessionplugin.Classify(err); c != sessionplugin.CategoryPoolExhausted {
				t.Errorf("%s: Classify = %q, want pool_exhausted", name, c)
			}
			for _, want := range []string{"pool timeout", "primary", "1/1 connections in use", "150ms"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%s: message %q lacks %q", name, err, want)
				}
			}
		}
		if got := p.Stats().Errors[sessionplugin.CategoryPoolExhausted]; got < 2 {
			t.Errorf("Stats().Errors[pool_exhausted] = %d, want >= 2", got)
		}
	})
}

// When the statement's own deadline is shorter than PoolTimeout and ends
// the wait, the error says so: both sentinels hold.
func TestStatementDeadlineEndsTheWait(t *testing.T) {
	db, _, _ := install(t, testdb.SQLite, func(c *sessionplugin.Config) {
		c.PoolSize, c.MaxOverflow, c.PoolTimeout = 1, 0, 10*time.Second
	})
	holder := db.Begin()
	defer holder.Rollback()
	var it Item
	err := sessionplugin.WithTimeout(db, 100*time.Millisecond).First(&it).Error
	if !errors.Is(err, sessionplugin.ErrPoolTimeout) || !errors.Is(err, sessionplugin.ErrQueryTimeout) {
		t.Fatalf("err = %v; want both ErrPoolTimeout and ErrQueryTimeout", err)
	}
	if !strings.Contains(err.Error(), "statement's 100ms deadline ran out first") {
		t.Errorf("message %q does not name the statement budget", err)
	}
}
