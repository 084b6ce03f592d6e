package sessionplugin_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// Many goroutines open and close scopes at once: every scope is counted
// once, none stays open, and the registry saw them overlap.
func TestRegistryUnderConcurrency(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, p, _ := install(t, kind, nil)
		const workers, each = 16, 40
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					name := fmt.Sprintf("w%d-%d", w, i)
					err := sessionplugin.Transaction(context.Background(), db, func(tx *gorm.DB) error {
						return tx.Create(&Item{Name: name}).Error
					}, sessionplugin.WithRetry(5, 0))
					if err == nil {
						var it Item
						err = db.First(&it, "name = ?", name).Error
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		st := p.Stats()
		if st.Active != 0 || st.Opened != st.Closed || st.Opened < workers*each*3 {
			t.Fatalf("stats %+v: want all %d+ scopes closed", st, workers*each*3)
		}
		if st.Peak < 2 {
			t.Errorf("peak %d: the scopes never overlapped", st.Peak)
		}
	})
}

// The after-step gives a reused session its own context back.
func TestContextRestored(t *testing.T) {
	db, _, _ := install(t, testdb.SQLite, nil)
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "mine")
	// A chain with a condition shares one Statement across its finishers.
	s := db.WithContext(ctx).Model(&Item{}).Where("price >= ?", 0)
	var items []Item
	s.Find(&items)
	if s.Statement.Context != ctx {
		t.Fatalf("after Find: session context = %v, want the caller's", s.Statement.Context)
	}
	rows, err := s.Rows()
	if err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if s.Statement.Context != ctx {
		t.Fatalf("session context after statements = %v, want the caller's", s.Statement.Context)
	}
}
