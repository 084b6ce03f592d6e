package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/breaker"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

func TestRespond(t *testing.T) {
	open := &breaker.OpenError{Source: "primary", State: breaker.StateOpen, Reason: "3 consecutive failures", RetryIn: 2500 * time.Millisecond}
	for _, c := range []struct {
		err    error
		status int
		code   string
		retry  int
	}{
		{gorm.ErrRecordNotFound, 404, "not_found", 0},
		{fmt.Errorf("get: %w", &mysqldrv.MySQLError{Number: 1062, Message: "Duplicate entry"}), 409, "conflict", 0},
		{&pgconn.PgError{Code: "23503"}, 409, "conflict", 0},
		{&pgconn.PgError{Code: "22001", Message: "value too long"}, 422, "invalid_data", 0},
		{&pgconn.PgError{Code: "23502"}, 422, "invalid_data", 0},
		{fmt.Errorf("query: %w", open), 503, "unavailable", 3},
		{sessionplugin.ErrPoolTimeout, 503, "busy", 1},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), 504, "timeout", 0},
		{&pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}, 504, "timeout", 0},
		{context.Canceled, 499, "canceled", 0},
		{&pgconn.PgError{Code: "40001"}, 503, "contention", 1},
		{sessionplugin.ErrCommitUnknown, 500, "outcome_unknown", 0},
		{errors.New("something else"), 500, "internal", 0},
		{&Error{Status: http.StatusTeapot, Code: "teapot", Message: "short and stout"}, 418, "teapot", 0},
	} {
		e, retry := Respond(c.err)
		if e.Status != c.status || e.Code != c.code || retry != c.retry {
			t.Errorf("Respond(%v) = %d %s retry %d; want %d %s retry %d (category %q)",
				c.err, e.Status, e.Code, retry, c.status, c.code, c.retry, sessionplugin.Classify(c.err))
		}
	}
}
