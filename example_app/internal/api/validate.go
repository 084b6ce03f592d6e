package api

import (
	"net/http"
	"net/mail"
	"strings"
	"unicode/utf8"
)

// fields collects per-field problems and turns them into one 422.
type fields map[string]string

func (f fields) check(ok bool, field, problem string) {
	if !ok {
		if _, seen := f[field]; !seen {
			f[field] = problem
		}
	}
}

func (f fields) err() error {
	if len(f) == 0 {
		return nil
	}
	return &Error{Status: http.StatusUnprocessableEntity, Code: "invalid_input", Message: "some fields are invalid", Fields: f}
}

// text checks a required string of at most max characters, trimmed.
func (f fields) text(field string, s *string, max int) {
	*s = strings.TrimSpace(*s)
	f.check(*s != "", field, "required")
	f.check(utf8.ValidString(*s), field, "must be UTF-8")
	f.check(utf8.RuneCountInString(*s) <= max, field, "too long")
}

// email checks and normalizes an address: a bare addr-spec (no display
// name), at most 254 bytes, lower-cased.
func (f fields) email(field string, s *string) {
	*s = strings.ToLower(strings.TrimSpace(*s))
	f.check(*s != "", field, "required")
	f.check(len(*s) <= 254, field, "too long")
	a, err := mail.ParseAddress(*s)
	f.check(err == nil && a.Address == *s && strings.Contains(*s, "."), field, "not an email address")
}
