package sessionplugin

import (
	"context"
	"fmt"
	"strings"
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
// logged unless LogParams is set: not in the SQL, nor where the database
// quotes them in its error message (see errclass.Redact).
type GormLogger struct {
	log           *zap.Logger
	level         logger.LogLevel
	SlowThreshold time.Duration
	LogParams     bool
	pluginLogs    *atomic.Bool
	filtered      *atomic.Uint64 // ParamsFilter calls, to tell a filtered SQL from one GORM's Scan built without it
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
	return &GormLogger{log: l.WithOptions(zap.AddCallerSkip(3)), level: logger.Warn, SlowThreshold: 200 * time.Millisecond,
		pluginLogs: new(atomic.Bool), filtered: new(atomic.Uint64)}
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
	g.filtered.Add(1)
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

// redactSQL replaces the string literals ('...', as GORM's Explain writes
// values on every dialect) in sql by '[redacted]' and, with numbers, the
// numeric literals too; quoted identifiers, placeholders ($1, ?) and names
// with digits are left alone.
func redactSQL(sql string, numbers bool) string {
	if !strings.ContainsRune(sql, '\'') && !numbers {
		return sql
	}
	var b strings.Builder
	b.Grow(len(sql))
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '\'':
			j := i + 1
			for j < len(sql) {
				if sql[j] == '\'' {
					if j+1 < len(sql) && sql[j+1] == '\'' { // '' inside a literal
						j += 2
						continue
					}
					break
				}
				j++
			}
			b.WriteString("'" + redacted{}.String() + "'")
			i = j + 1
		case c == '"' || c == '`': // a quoted identifier
			j := strings.IndexByte(sql[i+1:], c)
			if j < 0 {
				j = len(sql) - i - 1
			}
			b.WriteString(sql[i : i+j+2])
			i += j + 2
		case numbers && c >= '0' && c <= '9' && (i == 0 || !isWordByte(sql[i-1])):
			j := i
			for j < len(sql) && (sql[j] >= '0' && sql[j] <= '9' || sql[j] == '.') {
				j++
			}
			if j < len(sql) && isWordByte(sql[j]) { // 1e5, 2x: not a plain number
				b.WriteString(sql[i:j])
			} else {
				b.WriteString(redacted{}.String())
			}
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// isWordByte reports whether c can be part of a name or a placeholder.
func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c == '?' || c == ':' || c == '@' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

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
	calls := g.filtered.Load()
	sql, rows := fc()
	if !g.LogParams {
		// GORM's Scan renders the SQL with its values, past ParamsFilter:
		// redact its string literals always, and its numbers too when
		// ParamsFilter was not called for it (another goroutine's call may
		// hide that; strings are covered regardless).
		sql = redactSQL(sql, g.filtered.Load() == calls)
	}
	fields := []zap.Field{zap.String("sql", sql), zap.Int64("rows", rows), zap.Duration("duration", elapsed)}
	if err != nil {
		logged := err
		if !g.LogParams {
			logged = errclass.Redact(err) // drivers quote bound values in some messages
		}
		fields = append(fields, zap.Error(logged), zap.String("category", string(errclass.Classify(err))))
	}
	ce.Write(fields...)
}
