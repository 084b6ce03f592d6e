package sessionplugin_test

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// One failure, one structured line, with the SQL but not the values.
func TestFailureLoggedOnceWithoutParams(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, _, logs := install(t, kind, nil)
		if err := db.Create(&Item{Name: "secret-value"}).Error; err != nil {
			t.Fatal(err)
		}
		logs.TakeAll()
		err := sessionplugin.Transaction(context.Background(), db, func(tx *gorm.DB) error {
			return tx.Create(&Item{Name: "secret-value"}).Error
		})
		if err == nil {
			t.Fatal("duplicate insert succeeded")
		}
		lines := logs.FilterMessage("database statement failed").All()
		if len(lines) != 1 || logs.Len() != 1 {
			t.Fatalf("%d lines in all, %d failure lines; want exactly one: %v", logs.Len(), len(lines), logs.All())
		}
		l := lines[0]
		f := l.ContextMap()
		if l.Level != zapcore.WarnLevel || f["category"] != "unique_violation" || f["operation"] != "create" || f["table"] != "items" {
			t.Errorf("line = %v %v", l.Level, f)
		}
		if c, _ := f["caller"].(string); !strings.HasPrefix(c, "plugin/log_test.go:") {
			t.Errorf("caller = %q, want this file", c)
		}
		if f["code"] == "" || f["source"] != "primary" || f["tx_scope_id"] == nil {
			t.Errorf("code/source/tx_scope_id missing: %v", f)
		}
		sql, _ := f["sql"].(string)
		if !strings.Contains(strings.ToUpper(sql), "INSERT INTO") || strings.Contains(sql, "secret-value") {
			t.Errorf("sql = %q; want the statement without its bound values", sql)
		}
	})
}

func TestLogParamsOptIn(t *testing.T) {
	db, _, logs := install(t, testdb.SQLite, func(c *sessionplugin.Config) { c.LogParams = true })
	db.Create(&Item{Name: "visible"})
	db.Create(&Item{Name: "visible"})
	lines := logs.FilterMessage("database statement failed").All()
	if len(lines) != 1 || !strings.Contains(lines[0].ContextMap()["sql"].(string), "visible") {
		t.Fatalf("with LogParams the SQL should carry the value: %v", lines)
	}
}

func TestNotFoundLoggedAtDebug(t *testing.T) {
	db, _, logs := install(t, testdb.SQLite, nil)
	var it Item
	if err := db.First(&it, "name = ?", "nobody").Error; sessionplugin.Classify(err) != sessionplugin.CategoryNotFound {
		t.Fatalf("First: %v", err)
	}
	lines := logs.FilterMessage("database statement failed").All()
	if len(lines) != 1 || lines[0].Level != zapcore.DebugLevel {
		t.Fatalf("not_found lines = %v; want one at debug", lines)
	}
}

// Fields put in the context by request middleware reach the failure line.
func TestLogFieldsFromContext(t *testing.T) {
	db, _, logs := install(t, testdb.SQLite, nil)
	ctx := sessionplugin.WithLogFields(context.Background(), zap.String("route", "POST /items"))
	ctx = sessionplugin.WithLogFields(ctx, zap.String("request_id", "r-42"))
	db.Create(&Item{Name: "twice"})
	db.WithContext(ctx).Create(&Item{Name: "twice"})
	lines := logs.FilterMessage("database statement failed").All()
	if len(lines) != 1 {
		t.Fatalf("%d failure lines, want 1", len(lines))
	}
	f := lines[0].ContextMap()
	if f["route"] != "POST /items" || f["request_id"] != "r-42" {
		t.Fatalf("fields = %v; want route and request_id from the context", f)
	}
}
