package callbacks

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/callbacks/errclass"
	"github.com/replyrocket/gormsession/internal/scope"
)

// report logs a failed scope once (or a slow statement), and calls OnEnd.
// db, when not nil, supplies the SQL and must be the statement's own,
// read before it returns to the caller. It reports whether it logged err.
func (r *Runtime) report(ctx context.Context, src *Source, op int, s *scope.Scope, err error, elapsed time.Duration, db *gorm.DB, already error) bool {
	src.durations[op].Observe(elapsed)
	if r.opts.OnEnd != nil {
		r.opts.OnEnd(s, err, elapsed)
	}
	if s.LongRunningReported() {
		r.log.Info("long-running database scope returned",
			zap.String("operation", s.Op), zap.String("caller", s.Caller), zap.Uint64("scope_id", s.ID),
			zap.String("source", s.Source), zap.Duration("returned_after", elapsed), zap.Error(r.loggable(err)))
	}
	if err == nil {
		if r.opts.SlowThreshold > 0 && elapsed > r.opts.SlowThreshold && s.Kind == scope.Statement {
			if ce := r.log.Check(zapcore.WarnLevel, "slow database statement"); ce != nil {
				ce.Write(r.fields(ctx, s, nil, elapsed, db, zap.Duration("threshold", r.opts.SlowThreshold))...)
			}
		}
		return false
	}
	if already != nil && errors.Is(err, already) {
		return false // a nested statement logged it
	}
	if r.log.Level() > zapcore.ErrorLevel {
		return true // no level a failure is logged at is enabled: skip classifying
	}
	cat := errclass.Classify(err)
	msg := "database statement failed"
	if s.Kind == scope.Transaction {
		msg = "database transaction failed"
	}
	if ce := r.log.Check(cat.Level(), msg); ce != nil {
		ce.Write(r.fields(ctx, s, err, elapsed, db, zap.String("category", string(cat)), zap.String("code", errclass.Code(err)))...)
	}
	return true
}

func (r *Runtime) fields(ctx context.Context, s *scope.Scope, err error, elapsed time.Duration, db *gorm.DB, extra ...zap.Field) []zap.Field {
	user := logFields(ctx)
	f := make([]zap.Field, 0, 12+len(extra)+len(user))
	f = append(f, extra...)
	f = append(f, user...)
	if err != nil {
		f = append(f, zap.Error(r.loggable(err)))
	}
	f = append(f,
		zap.String("operation", s.Op),
		zap.String("table", s.Table),
		zap.Duration("duration", elapsed),
		zap.String("caller", s.Caller),
		zap.Uint64("scope_id", s.ID),
		zap.String("source", s.Source),
	)
	if s.Parent != nil {
		f = append(f, zap.Uint64("tx_scope_id", s.Parent.ID))
	}
	if db != nil && db.Statement != nil {
		f = append(f, zap.Int64("rows", db.RowsAffected))
		if sql := db.Statement.SQL.String(); sql != "" {
			if r.opts.LogParams {
				sql = db.Dialector.Explain(sql, db.Statement.Vars...)
			}
			f = append(f, zap.String("sql", sql))
		}
	}
	return f
}

// loggable is err as a log line may show it: drivers quote bound values in
// some messages (a duplicate entry, an invalid input), which are redacted
// unless LogParams is set.
func (r *Runtime) loggable(err error) error {
	if r.opts.LogParams {
		return err
	}
	return errclass.Redact(err)
}
