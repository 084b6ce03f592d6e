package api

import (
	"errors"
	"math"
	"net/http"
	"strconv"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/replyrocket/gormsession/breaker"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// Error is an error with its HTTP response: a status, a stable code and a
// message safe to show a client. Handlers return it for input errors and to
// give a database error a more specific message.
type Error struct {
	Status  int
	Code    string
	Message string
	Fields  map[string]string // per-field problems, for 422
	Err     error             // the cause, logged, never sent
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// body is the JSON error response.
type body struct {
	Error struct {
		Code      string            `json:"code"`
		Message   string            `json:"message"`
		Fields    map[string]string `json:"fields,omitempty"`
		RequestID string            `json:"request_id"`
	} `json:"error"`
}

// Respond maps err to its response. An *Error answers as it says; any other
// error by its sessionplugin category:
//
//	not_found 404, unique_violation and foreign_key_violation 409,
//	invalid_data, not_null_violation, check_violation 422,
//	circuit_open 503 with Retry-After (when the breaker lets a probe through),
//	pool_exhausted 503 with Retry-After: 1, timeout 504, canceled 499 (the
//	client went away), deadlock, serialization_failure, connection,
//	read_only, closed 503, commit_unknown and the rest 500.
//
// retryAfter is the Retry-After value in seconds, 0 for none.
func Respond(err error) (e *Error, retryAfter int) {
	if errors.As(err, &e) {
		if e.Status == 0 {
			e.Status = http.StatusInternalServerError
		}
		return e, 0
	}
	cat := sessionplugin.Classify(err)
	mk := func(status int, code, msg string) *Error {
		return &Error{Status: status, Code: code, Message: msg, Err: err}
	}
	switch cat {
	case sessionplugin.CategoryNotFound:
		return mk(http.StatusNotFound, "not_found", "not found"), 0
	case sessionplugin.CategoryUniqueViolation:
		return mk(http.StatusConflict, "conflict", "conflicts with an existing record"), 0
	case sessionplugin.CategoryForeignKeyViolation:
		return mk(http.StatusConflict, "conflict", "refers to a record that does not exist"), 0
	case sessionplugin.CategoryInvalidData, sessionplugin.CategoryNotNullViolation, sessionplugin.CategoryCheckViolation:
		return mk(http.StatusUnprocessableEntity, "invalid_data", "the database rejected a value"), 0
	case sessionplugin.CategoryCircuitOpen:
		retry := 1
		var open *breaker.OpenError
		if errors.As(err, &open) && open.RetryIn > 0 {
			retry = int(math.Ceil(open.RetryIn.Seconds()))
		}
		return mk(http.StatusServiceUnavailable, "unavailable", "the database is unavailable; retry later"), retry
	case sessionplugin.CategoryPoolExhausted:
		return mk(http.StatusServiceUnavailable, "busy", "the server is busy; retry shortly"), 1
	case sessionplugin.CategoryTimeout:
		return mk(http.StatusGatewayTimeout, "timeout", "the request ran out of time"), 0
	case sessionplugin.CategoryCanceled:
		return mk(499, "canceled", "the request was canceled"), 0
	case sessionplugin.CategoryDeadlock, sessionplugin.CategorySerializationFailure:
		return mk(http.StatusServiceUnavailable, "contention", "conflicting concurrent update; retry"), 1
	case sessionplugin.CategoryConnection, sessionplugin.CategoryReadOnly, sessionplugin.CategoryClosed:
		return mk(http.StatusServiceUnavailable, "unavailable", "the database is unavailable; retry later"), 1
	case sessionplugin.CategoryCommitUnknown:
		return mk(http.StatusInternalServerError, "outcome_unknown", "the database connection was lost while committing; check before retrying"), 0
	}
	return mk(http.StatusInternalServerError, "internal", "internal error"), 0
}

// writeError logs err with its category and writes the safe response.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e, retry := Respond(err)
	if retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retry))
	}
	var b body
	b.Error.Code, b.Error.Message, b.Error.Fields = e.Code, e.Message, e.Fields
	b.Error.RequestID = RequestID(r.Context())
	lvl := zapcore.DebugLevel
	if e.Status >= 500 {
		lvl = zapcore.ErrorLevel
	} else if e.Err != nil {
		lvl = zapcore.InfoLevel
	}
	if ce := a.log.Check(lvl, "request failed"); ce != nil {
		ce.Write(zap.String("request_id", b.Error.RequestID), zap.String("path", r.URL.Path), zap.Int("status", e.Status),
			zap.String("code", e.Code), zap.String("category", string(sessionplugin.Classify(e.Err))), zap.Error(err))
	}
	writeJSON(w, e.Status, b)
}
