// Package gorm is a stub of gorm.io/gorm with the methods gormleak knows.
package gorm

import (
	"context"
	"database/sql"
)

type Statement struct {
	ConnPool ConnPool
	Context  context.Context
}

type ConnPool interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

type TxCommitter interface {
	Commit() error
	Rollback() error
}

type Session struct{}

type DB struct {
	Error        error
	RowsAffected int64
	Statement    *Statement
}

func (db *DB) Begin(opts ...*sql.TxOptions) *DB                                { return db }
func (db *DB) Commit() *DB                                                     { return db }
func (db *DB) Rollback() *DB                                                   { return db }
func (db *DB) Rows() (*sql.Rows, error)                                        { return nil, nil }
func (db *DB) Row() *sql.Row                                                   { return nil }
func (db *DB) ScanRows(rows *sql.Rows, dest any) error                         { return nil }
func (db *DB) Create(value any) *DB                                            { return db }
func (db *DB) Save(value any) *DB                                              { return db }
func (db *DB) Where(query any, args ...any) *DB                                { return db }
func (db *DB) Model(value any) *DB                                             { return db }
func (db *DB) Find(dest any, conds ...any) *DB                                 { return db }
func (db *DB) First(dest any, conds ...any) *DB                                { return db }
func (db *DB) Update(column string, value any) *DB                             { return db }
func (db *DB) Delete(value any, conds ...any) *DB                              { return db }
func (db *DB) Exec(sql string, values ...any) *DB                              { return db }
func (db *DB) Session(s *Session) *DB                                          { return db }
func (db *DB) WithContext(ctx context.Context) *DB                             { return db }
func (db *DB) AddError(err error) error                                        { return err }
func (db *DB) Transaction(fc func(tx *DB) error, opts ...*sql.TxOptions) error { return fc(db) }

var ErrRecordNotFound error
