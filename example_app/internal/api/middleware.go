package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"gorm.io/gorm"

	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// handlerFunc is a route handler: it gets the request's database session and
// returns an error for the middleware to map to a response.
type handlerFunc func(w http.ResponseWriter, r *http.Request, db *gorm.DB) error

type ctxKey struct{}

// RequestID returns the request id the middleware assigned, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// outer is the middleware around every route: request id, panic recovery,
// access log and metrics.
func (a *API) outer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validID(id) {
			id = newID()
		}
		w.Header().Set("X-Request-Id", id)
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, id))
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.log.Error("handler panicked", zap.String("request_id", id), zap.Any("panic", v), zap.Stack("stack"))
				if !rec.wrote {
					a.writeError(rec, r, &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"})
				}
			}
			route := r.Pattern // set by the ServeMux on this same request
			if route == "" {
				route = "unmatched"
			}
			if a.metrics != nil {
				a.metrics.Request(route, rec.status, time.Since(start))
			}
			if ce := a.log.Check(accessLevel(rec.status), "request"); ce != nil {
				ce.Write(zap.String("request_id", id), zap.String("method", r.Method), zap.String("route", route),
					zap.String("path", r.URL.Path), zap.Int("status", rec.status), zap.Duration("duration", time.Since(start)))
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// session is the request-scoped database session (the seed's get_db): the
// handler's *gorm.DB carries the request's context, so every statement gets
// the request's deadline (the sooner of it and the plugin's QueryTimeout),
// stops when the client goes away, and the plugin's scopes and log lines
// belong to this request. Opening and closing are logged at debug with the
// route and request id.
func (a *API) session(route string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
		defer cancel()
		id := RequestID(ctx)
		// The plugin's failure lines for this request carry its route and id.
		ctx = sessionplugin.WithLogFields(ctx, zap.String("route", route), zap.String("request_id", id))
		r = r.WithContext(ctx)
		start := time.Now()
		a.log.Debug("db session opened", zap.String("route", route), zap.String("request_id", id),
			zap.Duration("deadline", a.timeout))
		err := h(w, r, a.db.WithContext(ctx))
		if err != nil {
			a.writeError(w, r, err)
		}
		if ce := a.log.Check(zapcore.DebugLevel, "db session closed"); ce != nil {
			ce.Write(zap.String("route", route), zap.String("request_id", id), zap.Duration("duration", time.Since(start)),
				zap.String("category", string(sessionplugin.Classify(err))))
		}
	})
}

// recorder remembers the status written.
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func accessLevel(status int) zapcore.Level {
	if status >= 500 {
		return zapcore.WarnLevel
	}
	return zapcore.InfoLevel
}

func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
