package errclass

import (
	"database/sql"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libtnb/sqlite"
	"github.com/replyrocket/gormsession/internal/testdb"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

func insertDuplicate(t *testing.T, e *env) error {
	return e.db.Create(&Parent{Name: str("one")}).Error
}

func insertDuplicateTranslated(t *testing.T, e *env) error {
	db, err := gorm.Open(e.tg.Dialector(), &gorm.Config{Logger: logger.Discard, TranslateError: true})
	if err != nil {
		t.Fatal(err)
	}
	if sqlDB, err := db.DB(); err == nil {
		t.Cleanup(func() { sqlDB.Close() })
	}
	return db.Create(&Parent{Name: str("one")}).Error
}

func insertOrphan(t *testing.T, e *env) error {
	return e.db.Create(&Child{ParentID: 999}).Error
}

func deleteReferencedParent(t *testing.T, e *env) error {
	if err := e.db.Create(&Child{ParentID: 1}).Error; err != nil {
		t.Fatal(err)
	}
	return e.db.Delete(&Parent{}, 1).Error
}

func insertNull(t *testing.T, e *env) error {
	return e.db.Create(&Parent{Name: nil, Qty: 1}).Error
}

func insertNegativeQty(t *testing.T, e *env) error {
	return e.db.Create(&Parent{Name: str("negative"), Qty: -1}).Error
}

func firstMissing(t *testing.T, e *env) error {
	var p Parent
	return e.db.First(&p, 12345).Error
}

func writeInReadOnly(t *testing.T, e *env) error {
	switch e.kind {
	case testdb.Postgres:
		return e.db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec("SET TRANSACTION READ ONLY").Error; err != nil {
				t.Fatal(err)
			}
			return tx.Create(&Parent{Name: str("ro")}).Error
		})
	case testdb.MySQL:
		// The driver begins it with START TRANSACTION READ ONLY.
		return e.db.Transaction(func(tx *gorm.DB) error {
			return tx.Create(&Parent{Name: str("ro")}).Error
		}, &sql.TxOptions{ReadOnly: true})
	default:
		return e.db.Connection(func(c *gorm.DB) error {
			if err := c.Exec("PRAGMA query_only = 1").Error; err != nil {
				t.Fatal(err)
			}
			defer c.Exec("PRAGMA query_only = 0")
			return c.Create(&Parent{Name: str("ro")}).Error
		})
	}
}

func badSyntax(t *testing.T, e *env) error {
	return e.db.Exec("SELEC 1").Error
}

func missingTable(t *testing.T, e *env) error {
	var n int
	return e.db.Raw("SELECT count(*) FROM no_such_table").Scan(&n).Error
}

func missingColumn(t *testing.T, e *env) error {
	var n int
	return e.db.Raw("SELECT no_such_column FROM parents").Scan(&n).Error
}

func insertTooLong(t *testing.T, e *env) error {
	return e.db.Create(&Parent{Name: str(strings.Repeat("x", 30))}).Error
}

func insertBadValue(t *testing.T, e *env) error {
	switch e.kind {
	case testdb.Postgres:
		var n int
		return e.db.Raw("SELECT CAST('abc' AS integer)").Scan(&n).Error
	case testdb.MySQL:
		return e.db.Model(&Parent{}).Where("id = ?", 1).Update("qty", "abc").Error
	default:
		if err := e.db.Exec("CREATE TABLE strict_things (n INTEGER) STRICT").Error; err != nil {
			t.Fatal(err)
		}
		return e.db.Exec("INSERT INTO strict_things (n) VALUES (?)", "abc").Error
	}
}

func noPrivilege(t *testing.T, e *env) error {
	switch e.kind {
	case testdb.Postgres:
		role := pgRole(t, e)
		return e.db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec("SET LOCAL ROLE " + role).Error; err != nil {
				t.Fatal(err)
			}
			var p Parent
			return tx.First(&p).Error
		})
	case testdb.MySQL:
		cfg := mysqlUser(t, e)
		dbName := cfg.DBName
		cfg.DBName = ""
		db, err := open(t, testdb.Dialector(testdb.MySQL, cfg.FormatDSN()))
		if err != nil {
			t.Fatal(err)
		}
		var p Parent
		return db.Table(dbName + ".parents").First(&p).Error
	default:
		db, err := open(t, sqlite.Open(e.tg.DSN+"&mode=ro"))
		if err != nil {
			t.Fatal(err)
		}
		return db.Create(&Parent{Name: str("ro")}).Error
	}
}

func connectWithoutPrivilege(t *testing.T, e *env) error {
	switch e.kind {
	case testdb.Postgres:
		u, err := url.Parse(e.tg.DSN)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.User(pgRole(t, e))
		_, err = open(t, testdb.Dialector(testdb.Postgres, u.String()))
		return err
	case testdb.MySQL:
		_, err := open(t, testdb.Dialector(testdb.MySQL, mysqlUser(t, e).FormatDSN()))
		return err
	default:
		db, err := open(t, sqlite.Open(e.tg.DSN+"&mode=ro"))
		if err != nil {
			return err
		}
		var p Parent
		return db.First(&p, 1).Error
	}
}

func connectClosedPort(t *testing.T, e *env) error {
	if e.kind == testdb.SQLite {
		_, err := open(t, sqlite.Open("file:"+filepath.Join(t.TempDir(), "no-such-dir", "x.db")))
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = open(t, testdb.Dialector(e.kind, e.tg.WithAddr(addr)))
	return err
}

func useTxAfterCommit(t *testing.T, e *env) error {
	tx := e.db.Begin()
	if err := tx.Commit().Error; err != nil {
		t.Fatal(err)
	}
	return tx.Create(&Parent{Name: str("late")}).Error
}

func useClosedDB(t *testing.T, e *env) error {
	sqlDB, err := e.db.DB()
	if err != nil {
		t.Fatal(err)
	}
	sqlDB.Close()
	var p Parent
	return e.db.First(&p, 1).Error
}

// useAbortedTx runs a statement after a failed one in the same transaction.
func useAbortedTx(t *testing.T, e *env) error {
	tx := e.db.Begin()
	defer tx.Rollback()
	if err := tx.Exec("SELEC 1").Error; err == nil {
		t.Fatal("bad statement succeeded")
	}
	var p Parent
	return tx.First(&p, 1).Error
}
