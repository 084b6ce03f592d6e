// Package api is the service's HTTP JSON API on net/http, with Go 1.22
// route patterns: contacts, campaigns, enqueueing a campaign's emails, an
// email's status, health, metrics and the plugin's /debug/db page.
//
// Every database route runs behind the request-scoped session middleware
// (the seed's get_db): it gives the handler a *gorm.DB bound to the
// request's context, with the request's deadline and id. Errors are mapped
// from sessionplugin.Classify categories to status codes, and response
// bodies never carry SQL, driver messages or DSNs.
package api

import (
	"net/http"
	"time"

	"go.uber.org/zap"
	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/example_app/internal/metrics"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// Deps is what the API needs.
type Deps struct {
	DB             *gorm.DB
	Plugin         *sessionplugin.Plugin
	Log            *zap.Logger
	Metrics        *metrics.Metrics // nil: no /metrics, nothing recorded
	RequestTimeout time.Duration    // per-request deadline; 0 means 10s
}

// API serves the routes.
type API struct {
	db      *gorm.DB
	plugin  *sessionplugin.Plugin
	log     *zap.Logger
	metrics *metrics.Metrics
	timeout time.Duration
}

// New returns the API.
func New(d Deps) *API {
	a := &API{db: d.DB, plugin: d.Plugin, log: d.Log, metrics: d.Metrics, timeout: d.RequestTimeout}
	if a.log == nil {
		a.log = zap.NewNop()
	}
	if a.timeout <= 0 {
		a.timeout = 10 * time.Second
	}
	return a
}

// Handler returns the routes wrapped in the request middleware (recovery,
// request id, access log and metrics).
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	a.route(mux, "POST /contacts", a.createContact)
	a.route(mux, "GET /contacts", a.listContacts)
	a.route(mux, "GET /contacts/{id}", a.getContact)
	a.route(mux, "POST /campaigns", a.createCampaign)
	a.route(mux, "GET /campaigns/{id}", a.getCampaign)
	a.route(mux, "POST /campaigns/{id}/enqueue", a.enqueue)
	a.route(mux, "GET /emails/{id}", a.getEmail)
	a.route(mux, "GET /healthz", a.health)
	if a.metrics != nil {
		mux.Handle("GET /metrics", a.metrics.Handler())
	}
	page := a.plugin.Handler()
	mux.Handle("GET /debug/db", page)
	mux.Handle("GET /debug/db/", http.StripPrefix("/debug/db", page))
	return a.outer(mux)
}

// route registers h behind the session middleware for pattern.
func (a *API) route(mux *http.ServeMux, pattern string, h handlerFunc) {
	mux.Handle(pattern, a.session(pattern, h))
}
