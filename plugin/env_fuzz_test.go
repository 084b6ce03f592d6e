package sessionplugin

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzConfigFromEnv sets up to two configuration variables (picked by a
// and b from configFields) to arbitrary strings and checks ConfigFromEnv's
// promises: no panic; a nil error means a valid Config; an error is one
// line and made of *EnvErrors, each naming a variable that was set, with its
// trimmed value, its field left at the default; and every value accepted
// reads back the same when formatted and parsed again.
func FuzzConfigFromEnv(f *testing.F) {
	vars := envVars()
	idx := func(name string) uint8 {
		for i, v := range vars {
			if v.env == name {
				return uint8(i)
			}
		}
		f.Fatalf("no variable %s", name)
		return 0
	}
	for _, s := range []struct {
		a, b   string
		va, vb string
	}{
		{"DB_POOL_SIZE", "DB_POOL_TIMEOUT", "20", "1m30s"},
		{"DB_POOL_SIZE", "DB_MAX_OVERFLOW", "five", "-1"},
		{"DB_QUERY_TIMEOUT", "DB_TX_TIMEOUT", "0.5", ".25"},
		{"DB_QUERY_TIMEOUT_RAW", "DB_QUERY_TIMEOUT_ROW", "-250ms", "-1"},
		{"DB_LOG_PARAMS", "DB_BREAKER_DISABLED", "Yes", "OFF"},
		{"DB_BREAKER_FAILURE_RATIO", "DB_BREAKER_SLOW_CALL_RATE", "NaN", "1e-9"},
		{"DB_BREAKER_SLOW_CALL_THRESHOLD", "DB_BREAKER_SLOW_CALL_RATE", "2s", "1.5"},
		{"DB_BREAKER_MIN_REQUESTS", "DB_BREAKER_HALF_OPEN_MAX_REQUESTS", "4294967296", "+7"},
		{"DB_POOL_RECYCLE", "DB_CONN_MAX_IDLE_TIME", "9223372036.854775807", "99999999999"},
		{"DB_SLOW_THRESHOLD", "DB_SLOW_THRESHOLD", " 250ms\n", "\t"},
		{"DB_POOL_SIZE", "DB_IDLE_IN_TX_THRESHOLD", "99999999999999999999", "1.2.3"},
		{"DB_BREAKER_INTERVAL", "DB_BREAKER_OPEN_TIMEOUT", "1h1m1s1ms1us1ns", "+.5"},
	} {
		f.Add(idx(s.a), s.va, idx(s.b), s.vb)
	}
	f.Fuzz(func(t *testing.T, a uint8, va string, b uint8, vb string) {
		env := map[string]string{}
		env[vars[int(a)%len(vars)].env] = va
		env[vars[int(b)%len(vars)].env] = vb // same variable: the last value wins
		c, err := configFromLookup(mapLookup(env))
		def := DefaultConfig()
		bad := map[string]bool{}
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "sessionplugin: bad environment: ") || strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("message not one line with the prefix: %q", msg)
			}
			u, ok := err.(interface{ Unwrap() []error })
			if !ok || len(u.Unwrap()) == 0 {
				t.Fatalf("%T: no wrapped errors", err)
			}
			for _, e := range u.Unwrap() {
				var ee *EnvError
				if !errors.As(e, &ee) {
					t.Fatalf("%T is not an *EnvError", e)
				}
				raw, set := env[ee.Var]
				if !set || ee.Value != strings.TrimSpace(raw) || ee.Reason == "" || ee.Field == "" {
					t.Fatalf("EnvError %+v for env %q", *ee, env)
				}
				if !strings.Contains(msg, ee.Var+"="+strconv.Quote(ee.Value)) {
					t.Fatalf("message %q does not name %s", msg, ee.Var)
				}
				bad[ee.Var] = true
			}
		} else if verr := c.Validate(); verr != nil {
			t.Fatalf("ConfigFromEnv(%q) = nil error, but Validate: %v", env, verr)
		}
		for _, v := range vars {
			raw, set := env[v.env]
			got := fieldValue(v.ptr(&c))
			if bad[v.env] || !set || strings.TrimSpace(raw) == "" {
				if want := fieldValue(v.ptr(&def)); !reflect.DeepEqual(got, want) {
					t.Fatalf("%s=%q: field %s = %v, want the default %v", v.env, raw, v.field, got, want)
				}
				continue
			}
			// Accepted: formatting the value and reading it back gives it again.
			s := formatEnv(got)
			var again Config
			if reason := v.parseInto(&again, s); reason != "" {
				t.Fatalf("%s=%q gave %v, but %q is rejected: %s", v.env, raw, got, s, reason)
			}
			if back := fieldValue(v.ptr(&again)); !reflect.DeepEqual(back, got) {
				t.Fatalf("%s=%q gave %v, but %q reads back as %v", v.env, raw, got, s, back)
			}
		}
	})
}

// envVars is configFields less the fields without a variable.
func envVars() []*configField {
	var out []*configField
	for i := range configFields {
		if configFields[i].env != "" {
			out = append(out, &configFields[i])
		}
	}
	return out
}

// formatEnv writes a field's value the way ConfigFromEnv reads it.
func formatEnv(v any) string {
	switch v := v.(type) {
	case int:
		return strconv.Itoa(v)
	case uint32:
		return strconv.FormatUint(uint64(v), 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case time.Duration:
		return v.String()
	}
	panic("formatEnv: unexpected type")
}
