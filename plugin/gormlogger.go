package sessionplugin

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/replyrocket/gormsession/callbacks/errclass"
)

// GormLogger is a gorm logger.Interface that writes GORM's own messages to
// zap. Build it with NewGormLogger and set it as gorm.Config.Logger.
//
// Once the plugin is installed on the same *gorm.DB, GormLogger leaves
// failed and slow statements to the plugin (which logs each once, with its
// category and caller) and logs every statement's SQL at debug level only.
// Without the plugin it logs failures at error (record-not-found at debug)
// and statements slower than SlowThreshold at warn. Bound values are never
// logged unless LogParams is set.
type GormLogger struct {
	log           *zap.Logger
	level         logger.LogLevel
	SlowThreshold time.Duration
	LogParams     bool
	pluginLogs    *atomic.Bool
}

var (
	_ logger.Interface  = (*GormLogger)(nil)
	_ gorm.ParamsFilter = (*GormLogger)(nil)
)

// NewGormLogger returns a GORM logger writing to l at level Warn, with a
// 200ms slow threshold. A nil l means zap.NewNop().
func NewGormLogger(l *zap.Logger) *GormLogger {
	if l == nil {
		l = zap.NewNop()
	}
	return &GormLogger{log: l.WithOptions(zap.AddCallerSkip(3)), level: logger.Warn, SlowThreshold: 200 * time.Millisecond, pluginLogs: new(atomic.Bool)}
}

// LogMode returns a copy at level; logger.Info also logs every statement at
// debug.
func (g *GormLogger) LogMode(level logger.LogLevel) logger.Interface {
	c := *g
	c.level = level
	return &c
}

// Info logs msg at info.
func (g *GormLogger) Info(_ context.Context, msg string, data ...any) {
	if g.level >= logger.Info {
		g.log.Info(fmt.Sprintf(msg, data...))
	}
}

// Warn logs msg at warn.
func (g *GormLogger) Warn(_ context.Context, msg string, data ...any) {
	if g.level >= logger.Warn {
		g.log.Warn(fmt.Sprintf(msg, data...))
	}
}

// Error logs msg at error.
func (g *GormLogger) Error(_ context.Context, msg string, data ...any) {
	if g.level >= logger.Error {
		g.log.Error(fmt.Sprintf(msg, data...))
	}
}

// ParamsFilter keeps bound values out of the SQL GORM hands to Trace
// unless LogParams is set.
func (g *GormLogger) ParamsFilter(_ context.Context, sql string, params ...any) (string, []any) {
	if g.LogParams {
		return sql, params
	}
	// One marker per value: with no values at all GORM's Explain mangles
	// PostgreSQL's $n placeholders.
	out := make([]any, len(params))
	for i := range out {
		out[i] = redacted{}
	}
	return sql, out
}

// redacted stands for a bound value in logged SQL.
type redacted struct{}

func (redacted) String() string { return "[redacted]" }

// Trace logs one finished statement, as described on GormLogger.
func (g *GormLogger) Trace(_ context.Context, begin time.Time, fc func() (string, int64), err error) {
	if g.level <= logger.Silent {
		return
	}
	elapsed := time.Since(begin)
	var (
		lvl = zapcore.DebugLevel
		msg = "gorm statement"
	)
	if !g.pluginLogs.Load() {
		switch {
		case err != nil && g.level >= logger.Error && errclass.Classify(err) != errclass.NotFound:
			lvl, msg = zapcore.ErrorLevel, "gorm statement failed"
		case g.SlowThreshold > 0 && elapsed > g.SlowThreshold && g.level >= logger.Warn:
			lvl, msg = zapcore.WarnLevel, "slow gorm statement"
		}
	}
	if lvl == zapcore.DebugLevel && g.level < logger.Info {
		return
	}
	ce := g.log.Check(lvl, msg)
	if ce == nil {
		return
	}
	sql, rows := fc()
	fields := []zap.Field{zap.String("sql", sql), zap.Int64("rows", rows), zap.Duration("duration", elapsed)}
	if err != nil {
		fields = append(fields, zap.Error(err), zap.String("category", string(errclass.Classify(err))))
	}
	ce.Write(fields...)
}
