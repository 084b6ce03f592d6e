package sessionplugin_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// Every operation opens a scope and closes it; the caller is this file.
func TestEveryOperationIsAScope(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, p, _ := install(t, kind, nil)
		before := p.Stats()
		steps := []struct {
			name string
			run  func() error
		}{
			{"create", func() error { return db.Create(&Item{Name: "x", Price: 1}).Error }},
			{"query", func() error { var it Item; return db.First(&it, "name = ?", "x").Error }},
			{"update", func() error { return db.Model(&Item{}).Where("name = ?", "x").Update("price", 2).Error }},
			{"raw", func() error { return db.Exec("UPDATE items SET price = 3").Error }},
			{"row", func() error { var n int; return db.Raw("SELECT COUNT(*) FROM items").Row().Scan(&n) }},
			{"rows", func() error {
				rows, err := db.Model(&Item{}).Rows()
				if err != nil {
					return err
				}
				if p.Stats().Active == 0 {
					t.Error("no active scope while Rows are open")
				}
				return rows.Close()
			}},
			{"delete", func() error { return db.Where("name = ?", "x").Delete(&Item{}).Error }},
		}
		for i, s := range steps {
			if err := s.run(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			waitFor(t, func() bool { return p.Stats().Active == 0 }, "scopes of "+s.name+" to close")
			if got := p.Stats().Opened - before.Opened; got < uint64(i+1) {
				t.Errorf("after %s: %d scopes opened, want at least %d", s.name, got, i+1)
			}
		}
		st := p.Stats()
		if st.Opened != st.Closed {
			t.Errorf("opened %d, closed %d", st.Opened, st.Closed)
		}
	})
}

func TestActiveScopeNamesCallerAndTransaction(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, p, _ := install(t, kind, nil)
		tx := db.Begin()
		if tx.Error != nil {
			t.Fatal(tx.Error)
		}
		scopes := p.ActiveScopes()
		if len(scopes) != 1 {
			t.Fatalf("ActiveScopes = %+v, want the one transaction", scopes)
		}
		s := scopes[0]
		if s.Operation != "transaction" || s.Source != "primary" || !strings.HasPrefix(s.Caller, "plugin/scope_test.go:") {
			t.Errorf("scope = %+v, want a transaction on primary opened in plugin/scope_test.go", s)
		}
		if err := tx.Create(&Item{Name: "in-tx"}).Error; err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit().Error; err != nil {
			t.Fatal(err)
		}
		if n := len(p.ActiveScopes()); n != 0 {
			t.Errorf("%d scopes open after commit", n)
		}
		// GORM's own Transaction goes through the wrapped pool too.
		var inside int
		err := db.Transaction(func(tx *gorm.DB) error {
			inside = len(p.ActiveScopes())
			return tx.Create(&Item{Name: "gorm-tx"}).Error
		})
		if err != nil || inside != 1 {
			t.Errorf("db.Transaction: err %v, %d scopes inside, want nil and 1", err, inside)
		}
	})
}

type heldRows interface{ Close() error }

// A scope carries the fields WithLogFields put in its context (a route, a
// request id): in ActiveScopes, in the handler's JSON, and in the
// monitor's long-running line.
func TestScopesCarryLogFields(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, p, logs := install(t, kind, func(c *sessionplugin.Config) { c.LongRunningThreshold = 100 * time.Millisecond })
		ctx := sessionplugin.WithLogFields(context.Background(), zap.String("route", "POST /contacts"), zap.Int("attempt", 2))
		tx := db.WithContext(ctx).Begin()
		if tx.Error != nil {
			t.Fatal(tx.Error)
		}
		defer tx.Rollback()
		rows, err := tx.Model(&Item{}).Rows() // a statement scope, open while the rows are
		if err != nil {
			t.Fatal(err)
		}
		var held heldRows = rows
		defer held.Close()
		bare := db.Begin() // no fields
		defer bare.Rollback()

		want := map[string]string{"route": "POST /contacts", "attempt": "2"}
		var tagged, untagged int
		for _, s := range p.ActiveScopes() {
			switch {
			case reflect.DeepEqual(s.Fields, want):
				tagged++
			case s.Fields == nil:
				untagged++
			default:
				t.Errorf("scope %d (%s) Fields = %v", s.ID, s.Operation, s.Fields)
			}
		}
		if tagged < 1 || untagged != 1 {
			t.Errorf("%d scopes tagged, %d untagged; want the transaction (and its Rows) tagged, the bare one not", tagged, untagged)
		}

		rec := httptest.NewRecorder()
		p.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/?format=json", nil))
		var page struct {
			ActiveScopes []struct {
				Fields map[string]string `json:"fields"`
			} `json:"active_scopes"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, s := range page.ActiveScopes {
			found = found || reflect.DeepEqual(s.Fields, want)
		}
		if !found {
			t.Errorf("handler JSON lacks the fields: %+v", page.ActiveScopes)
		}
		waitFor(t, func() bool {
			for _, e := range logs.FilterMessage("long-running database scope").All() {
				if e.ContextMap()["route"] == "POST /contacts" {
					return true
				}
			}
			return false
		}, "a long-running line with the route")
	})
}
