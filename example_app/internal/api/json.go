package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
)

const maxBody = 1 << 20

// decode reads one JSON object into v: at most 1 MiB, no unknown fields, no
// trailing data.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("trailing data after the JSON object")
	}
	if err == nil {
		return nil
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: "request body over 1 MiB"}
	}
	return &Error{Status: http.StatusBadRequest, Code: "bad_json", Message: "request body is not the expected JSON: " + jsonReason(err)}
}

// jsonReason describes a decoding error without echoing the body.
func jsonReason(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return "syntax error at byte " + strconv.FormatInt(syn.Offset, 10)
	case errors.As(err, &typ):
		return "field " + strconv.Quote(typ.Field) + " has the wrong type"
	case errors.Is(err, io.EOF):
		return "empty body"
	}
	msg := err.Error()
	if len(msg) > 120 {
		msg = msg[:120]
	}
	return msg
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// pathID parses the {id} path value: a positive integer.
func pathID(r *http.Request) (uint64, error) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		return 0, &Error{Status: http.StatusBadRequest, Code: "bad_id", Message: "id must be a positive integer"}
	}
	return id, nil
}
