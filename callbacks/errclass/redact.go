package errclass

import (
	"regexp"
	"strings"
)

// Redacted replaces a value that Redact took out of an error message.
const Redacted = "[redacted]"

// valuePatterns match the values databases quote in their own error
// messages: bound parameter values, so personal data or secrets. Each has
// one group, the value; matches are greedy, so a value holding the closing
// text is taken whole (more is redacted, never less).
var valuePatterns = []*regexp.Regexp{
	// MySQL/MariaDB 1062, 1586: Duplicate entry 'v' for key 'k'
	regexp.MustCompile(`(?s)Duplicate entry '(.*)' for key`),
	// MySQL/MariaDB 1366, 1292, 1411, 1525: Incorrect integer value: 'v' for
	// column `t`.`c` at row 1; Truncated incorrect DOUBLE value: 'v'
	regexp.MustCompile(`(?s)value: '(.*)' for (?:column|function)`),
	regexp.MustCompile(`(?s)value: '(.*)'`),
	// MySQL/MariaDB 1367: Illegal double 'v' value found during parsing
	regexp.MustCompile(`(?s)Illegal \w+ '(.*)' value found`),
	// PostgreSQL class 22 (data exception): invalid input syntax for type
	// integer: "v"; date/time field value out of range: "v"; invalid input
	// value for enum mood: "v" (pgconn ends the message with its SQLSTATE)
	regexp.MustCompile(`(?s): "(.*)" \(SQLSTATE 22`),
	// PostgreSQL 22003: value "v" is out of range for type integer
	regexp.MustCompile(`(?s)value "(.*)" is out of range`),
	// PostgreSQL 22021: invalid byte sequence for encoding "UTF8": 0x00 0x41
	regexp.MustCompile(`invalid byte sequence for encoding "[^"]*": (0x[0-9a-fA-F]{2}(?: 0x[0-9a-fA-F]{2})*)`),
}

// Redact returns err with the values a database quotes in its error
// messages replaced by Redacted in the text, e.g.
//
//	Error 1062 (23000): Duplicate entry '[redacted]' for key 'email'
//	ERROR: invalid input syntax for type integer: "[redacted]" (SQLSTATE 22P02)
//
// Those values are usually bound parameters, which gormsession logs only
// when Config.LogParams is set. The result wraps err, so errors.Is,
// errors.As, Classify and Code see what they saw in err; only Error()
// differs. An err with nothing to redact, and nil, are returned as they are.
func Redact(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := RedactMessage(msg)
	if red == msg {
		return err
	}
	return &redactedError{err: err, msg: red}
}

// RedactMessage is Redact for an error's text.
func RedactMessage(msg string) string {
	if !strings.ContainsAny(msg, `'"`) {
		return msg
	}
	for _, re := range valuePatterns {
		msg = redactGroups(re, msg)
	}
	return msg
}

// redactGroups replaces group 1 of every match of re in s with Redacted.
func redactGroups(re *regexp.Regexp, s string) string {
	ms := re.FindAllStringSubmatchIndex(s, -1)
	if ms == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range ms {
		if g := s[m[2]:m[3]]; g == Redacted || strings.HasPrefix(g, Redacted+"'") || m[2] < last {
			continue // redacted by an earlier, more precise pattern
		}
		b.WriteString(s[last:m[2]])
		b.WriteString(Redacted)
		last = m[3]
	}
	b.WriteString(s[last:])
	return b.String()
}

// redactedError is err with a redacted message; see Redact.
type redactedError struct {
	err error
	msg string
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
