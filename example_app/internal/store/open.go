// Package store is the app's data layer: opening the database (primary,
// optional dbresolver replicas, the gormsession plugin), the models, and the
// queries the API and the worker run. Query functions take the *gorm.DB
// session to use, so a request's deadline and logger travel with them.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	"gorm.io/gorm/schema"
	"gorm.io/plugin/dbresolver"

	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// Options say what to open.
type Options struct {
	URL         string   // DATABASE_URL
	ReplicaURLs []string // DATABASE_REPLICA_URLS; same engine as URL
	Session     sessionplugin.Config
	Logger      *zap.Logger
	TablePrefix string // e.g. "gsdemo_" for the walkthrough's own tables
}

// Store is an open database with gormsession installed.
type Store struct {
	DB     *gorm.DB
	Kind   Kind
	Target Target
	Plugin *sessionplugin.Plugin

	sqlDB    *sql.DB
	resolver *dbresolver.DBResolver
	replicas *sessionplugin.ReplicaPolicy
}

// Open connects, installs dbresolver (when there are replicas) and then the
// plugin: db.Use(sessionplugin.New(cfg)) is the one line that matters.
func Open(o Options) (*Store, error) {
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	t, err := ParseURL(o.URL)
	if err != nil {
		return nil, err
	}
	if t.Kind == MySQL {
		// go-sql-driver logs to stderr on its own; send it to zap instead.
		mysqldrv.SetLogger(mysqlLogger{log.Named("mysql")})
	}
	gl := sessionplugin.NewGormLogger(log.Named("gorm"))
	var gormLog logger.Interface = gl
	if log.Core().Enabled(zapcore.DebugLevel) {
		gormLog = gl.LogMode(logger.Info) // every statement's SQL at debug
	}
	db, err := gorm.Open(t.Dialector(), &gorm.Config{
		Logger:         gormLog,
		NowFunc:        func() time.Time { return time.Now().UTC() },
		NamingStrategy: schema.NamingStrategy{TablePrefix: o.TablePrefix},
	})
	if err != nil {
		return nil, fmt.Errorf("open %s database %s: %w", t.Kind, t.Redacted, err)
	}
	s := &Store{DB: db, Kind: t.Kind, Target: t}
	if s.sqlDB, err = db.DB(); err != nil {
		return nil, err
	}
	cfg := o.Session
	cfg.Logger = log.Named("db")
	s.Plugin = sessionplugin.New(cfg)
	if len(o.ReplicaURLs) > 0 {
		if err := s.useReplicas(o.ReplicaURLs); err != nil {
			s.closeReplicas()
			s.sqlDB.Close()
			return nil, err
		}
	}
	if err := db.Use(s.Plugin); err != nil {
		s.closeReplicas()
		s.sqlDB.Close()
		return nil, fmt.Errorf("install gormsession: %w", err)
	}
	if err := s.nameReplicas(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// nameReplicas names the replicas replica-1, replica-2, ... in the order of
// DATABASE_REPLICA_URLS, in logs, Stats, metrics and breakers.
func (s *Store) nameReplicas() error {
	if s.resolver == nil {
		return nil
	}
	n := 0
	return s.resolver.Call(func(pool gorm.ConnPool) error {
		db, ok := pool.(*sql.DB)
		if !ok || db == s.sqlDB {
			return nil
		}
		n++
		return s.Plugin.NameSource(db, fmt.Sprintf("replica-%d", n))
	})
}

// useReplicas registers the replicas with dbresolver: reads go to them,
// writes and transactions to the primary. The plugin's replica policy keeps
// reads off a replica whose breaker is open and falls back to the primary,
// which is listed last for that (dbresolver asks a policy only when it has
// two pools or more).
func (s *Store) useReplicas(urls []string) error {
	var dials []gorm.Dialector
	for i, u := range urls {
		rt, err := ParseURL(u)
		if err != nil {
			return fmt.Errorf("DATABASE_REPLICA_URLS[%d]: %w", i, err)
		}
		if rt.Kind != s.Kind {
			return fmt.Errorf("DATABASE_REPLICA_URLS[%d]: a %s replica for a %s primary", i, rt.Kind, s.Kind)
		}
		dials = append(dials, rt.Dialector())
	}
	dials = append(dials, s.Target.DialectorOn(s.sqlDB))
	s.replicas = s.Plugin.ReplicaPolicy()
	s.resolver = dbresolver.Register(dbresolver.Config{
		Replicas:          dials,
		Policy:            s.replicas,
		TraceResolverMode: true,
	})
	if err := s.DB.Use(s.resolver); err != nil {
		return fmt.Errorf("install dbresolver: %w", err)
	}
	return nil
}

// Migrate creates or updates the tables.
func (s *Store) Migrate(ctx context.Context) error {
	return s.DB.WithContext(ctx).AutoMigrate(Models()...)
}

// DropAll drops the tables (the walkthrough cleans up after itself).
func (s *Store) DropAll(ctx context.Context) error {
	m := Models()
	for i := len(m) - 1; i >= 0; i-- {
		if err := s.DB.WithContext(ctx).Migrator().DropTable(m[i]); err != nil {
			return err
		}
	}
	return nil
}

// Close stops the plugin's background work and closes every pool, replicas
// included. Call it once, after the last statement.
func (s *Store) Close() error {
	err := s.Plugin.Close()
	if s.replicas != nil {
		err = errors.Join(err, s.replicas.Close())
	}
	err = errors.Join(err, s.closeReplicas())
	return errors.Join(err, s.sqlDB.Close())
}

func (s *Store) closeReplicas() error {
	if s.resolver == nil {
		return nil
	}
	var errs []error
	s.resolver.Call(func(pool gorm.ConnPool) error {
		if c, ok := pool.(interface{ Close() error }); ok && pool != gorm.ConnPool(s.sqlDB) {
			errs = append(errs, c.Close())
		}
		return nil
	})
	return errors.Join(errs...)
}

// mysqlLogger is go-sql-driver's Logger writing to zap at warn.
type mysqlLogger struct{ log *zap.Logger }

func (l mysqlLogger) Print(v ...any) { l.log.Warn(strings.TrimSpace(fmt.Sprint(v...))) }
