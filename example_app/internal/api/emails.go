package api

import (
	"net/http"

	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/example_app/internal/store"
)

// getEmail: GET /emails/{id} → the email's status, attempts and last error.
func (a *API) getEmail(w http.ResponseWriter, r *http.Request, db *gorm.DB) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	e, err := store.GetEmail(db, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}
