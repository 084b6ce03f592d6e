package api

import (
	"net/http"
	"strconv"

	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/example_app/internal/store"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

type contactIn struct {
	Email string `json:"email"`
	Name  string `json:"name"`
}

// createContact: POST /contacts {"email", "name"} → 201 with the contact;
// 409 when the email is taken.
func (a *API) createContact(w http.ResponseWriter, r *http.Request, db *gorm.DB) error {
	var in contactIn
	if err := decode(w, r, &in); err != nil {
		return err
	}
	f := fields{}
	f.email("email", &in.Email)
	f.text("name", &in.Name, 200)
	if err := f.err(); err != nil {
		return err
	}
	c := store.Contact{Email: in.Email, Name: in.Name}
	if err := store.CreateContact(db, &c); err != nil {
		if sessionplugin.Classify(err) == sessionplugin.CategoryUniqueViolation {
			return &Error{Status: http.StatusConflict, Code: "conflict", Message: "a contact with this email already exists", Err: err}
		}
		return err
	}
	writeJSON(w, http.StatusCreated, c)
	return nil
}

// listContacts: GET /contacts?limit=50&after_id=0 → a page in id order and
// the after_id of the next page, if any.
func (a *API) listContacts(w http.ResponseWriter, r *http.Request, db *gorm.DB) error {
	q := r.URL.Query()
	limit, after := 50, uint64(0)
	f := fields{}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		f.check(err == nil && n >= 1 && n <= 500, "limit", "must be an integer from 1 to 500")
		limit = n
	}
	if s := q.Get("after_id"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		f.check(err == nil, "after_id", "must be a non-negative integer")
		after = n
	}
	if err := f.err(); err != nil {
		return err
	}
	cs, err := store.ListContacts(db, after, limit)
	if err != nil {
		return err
	}
	out := struct {
		Contacts []store.Contact `json:"contacts"`
		Next     *uint64         `json:"next_after_id,omitempty"`
	}{Contacts: cs}
	if len(cs) == limit {
		out.Next = &cs[len(cs)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getContact: GET /contacts/{id}.
func (a *API) getContact(w http.ResponseWriter, r *http.Request, db *gorm.DB) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	c, err := store.GetContact(db, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}
