package sessionplugin_test

import (
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

func TestGormLogger(t *testing.T) {
	for _, withPlugin := range []bool{false, true} {
		name := "alone"
		if withPlugin {
			name = "with plugin"
		}
		t.Run(name, func(t *testing.T) {
			tg := testdb.Fresh(t, testdb.SQLite)
			core, logs := observer.New(zap.DebugLevel)
			db, err := gorm.Open(tg.Dialector(), &gorm.Config{Logger: sessionplugin.NewGormLogger(zap.New(core)).LogMode(logger.Warn)})
			if err != nil {
				t.Fatal(err)
			}
			sqlDB, _ := db.DB()
			t.Cleanup(func() { sqlDB.Close() })
			db.AutoMigrate(&Item{})
			if withPlugin {
				installOn(t, db, nil)
			}
			logs.TakeAll()
			db.Create(&Item{Name: "secret-value"})
			db.Create(&Item{Name: "secret-value"})
			failures := logs.FilterMessage("gorm statement failed").All()
			if withPlugin && len(failures) != 0 {
				t.Errorf("GormLogger logged %d failures the plugin already logs", len(failures))
			}
			if !withPlugin {
				if len(failures) != 1 || failures[0].Level != zapcore.ErrorLevel {
					t.Fatalf("failures = %v, want one at error", failures)
				}
				f := failures[0].ContextMap()
				if f["category"] != "unique_violation" || strings.Contains(f["sql"].(string), "secret-value") {
					t.Errorf("line = %v; want category and SQL without values", f)
				}
			}
		})
	}
}

// On PostgreSQL the placeholders survive redaction ($1 must not become $1$).
func TestGormLoggerRedactsPostgresPlaceholders(t *testing.T) {
	tg := testdb.Fresh(t, testdb.Postgres)
	core, logs := observer.New(zap.DebugLevel)
	db, err := gorm.Open(tg.Dialector(), &gorm.Config{Logger: sessionplugin.NewGormLogger(zap.New(core)).LogMode(logger.Info)})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := db.DB()
	t.Cleanup(func() { sqlDB.Close() })
	db.AutoMigrate(&Item{})
	logs.TakeAll()
	db.Create(&Item{Name: "secret-value", Price: 7})
	lines := logs.FilterMessage("gorm statement").All()
	if len(lines) == 0 {
		t.Fatal("no statement logged at Info")
	}
	sql := lines[len(lines)-1].ContextMap()["sql"].(string)
	if strings.Contains(sql, "secret-value") || strings.Contains(sql, "$1$") || !strings.Contains(sql, "[redacted]") {
		t.Fatalf("sql = %q; want values redacted and placeholders intact", sql)
	}
}
