package api

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"time"

	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/breaker"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

type breakerOut struct {
	Source  string  `json:"source"`
	State   string  `json:"state"`
	Mode    string  `json:"mode"`
	RetryIn float64 `json:"retry_in_seconds,omitempty"`
}

// health: GET /healthz pings the primary through the plugin (so an open
// breaker answers at once) and reports every breaker. 200 when the ping
// succeeded and the primary's breaker is not open; 503 otherwise, with
// Retry-After while the breaker is open.
func (a *API) health(w http.ResponseWriter, r *http.Request, db *gorm.DB) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	pingErr := db.WithContext(ctx).Exec("SELECT 1").Error

	out := struct {
		Status   string       `json:"status"`
		Database string       `json:"database"`
		Breakers []breakerOut `json:"breakers"`
	}{Status: "ok", Database: "ok", Breakers: []breakerOut{}}
	status := http.StatusOK
	if pingErr != nil {
		out.Status, out.Database = "unavailable", string(sessionplugin.Classify(pingErr))
		status = http.StatusServiceUnavailable
	}
	for _, b := range a.plugin.Stats().Breakers {
		out.Breakers = append(out.Breakers, breakerOut{Source: b.Source, State: b.State.String(), Mode: b.Mode.String(),
			RetryIn: b.RetryIn.Seconds()}) // not Reason: it names the server's address
		if b.Source == "primary" && (b.State == breaker.StateOpen || b.State == breaker.StateForcedOpen) {
			out.Status, status = "unavailable", http.StatusServiceUnavailable
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(b.RetryIn.Seconds())))))
		}
	}
	writeJSON(w, status, out)
	return nil
}
