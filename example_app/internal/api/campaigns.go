package api

import (
	"net/http"

	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/example_app/internal/store"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

type campaignIn struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Body    string `json:"body"`
}

// createCampaign: POST /campaigns {"name", "subject", "body"} → 201.
func (a *API) createCampaign(w http.ResponseWriter, r *http.Request, db *gorm.DB) error {
	var in campaignIn
	if err := decode(w, r, &in); err != nil {
		return err
	}
	f := fields{}
	f.text("name", &in.Name, 200)
	f.text("subject", &in.Subject, 200)
	f.text("body", &in.Body, 100_000)
	if err := f.err(); err != nil {
		return err
	}
	c := store.Campaign{Name: in.Name, Subject: in.Subject, Body: in.Body}
	if err := store.CreateCampaign(db, &c); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, c)
	return nil
}

// getCampaign: GET /campaigns/{id} → the campaign and its emails by status.
func (a *API) getCampaign(w http.ResponseWriter, r *http.Request, db *gorm.DB) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	c, err := store.GetCampaign(db, id)
	if err != nil {
		return err
	}
	counts, err := store.CampaignCounts(db, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		store.Campaign
		Emails map[string]int64 `json:"emails"`
	}{c, counts})
	return nil
}

// enqueue: POST /campaigns/{id}/enqueue → 202 with how many emails were
// queued (one per contact without one; enqueueing again queues only new
// contacts). 404 for an unknown campaign, 409 when a concurrent enqueue of
// the same campaign won.
func (a *API) enqueue(w http.ResponseWriter, r *http.Request, db *gorm.DB) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	n, err := store.Enqueue(r.Context(), db, id)
	if err != nil {
		switch sessionplugin.Classify(err) {
		case sessionplugin.CategoryNotFound:
			return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such campaign", Err: err}
		case sessionplugin.CategoryUniqueViolation:
			return &Error{Status: http.StatusConflict, Code: "conflict", Message: "this campaign is being enqueued by another request; retry", Err: err}
		}
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"campaign_id": id, "enqueued": n})
	return nil
}
