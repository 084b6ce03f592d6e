package sessionplugin

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// mapLookup is an os.LookupEnv over a map.
func mapLookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestConfigFromLookupValid(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want func(c *Config) // applied to DefaultConfig()
	}{
		{"nothing set", nil, func(c *Config) {}},
		{"empty is unset", map[string]string{"DB_POOL_SIZE": "", "DB_POOL_TIMEOUT": "   ", "DB_LOG_PARAMS": "\t"}, func(c *Config) {}},
		{"int", map[string]string{"DB_POOL_SIZE": "20"}, func(c *Config) { c.PoolSize = 20 }},
		{"int with spaces", map[string]string{"DB_POOL_SIZE": "  20\n"}, func(c *Config) { c.PoolSize = 20 }},
		{"int plus sign", map[string]string{"DB_POOL_SIZE": "+7"}, func(c *Config) { c.PoolSize = 7 }},
		{"overflow zero", map[string]string{"DB_MAX_OVERFLOW": "0"}, func(c *Config) { c.MaxOverflow = 0 }},
		{"duration go syntax", map[string]string{"DB_POOL_TIMEOUT": "1m30s"}, func(c *Config) { c.PoolTimeout = 90 * time.Second }},
		{"duration ms", map[string]string{"DB_SLOW_THRESHOLD": "250ms"}, func(c *Config) { c.SlowThreshold = 250 * time.Millisecond }},
		{"duration hours", map[string]string{"DB_POOL_RECYCLE": "1h"}, func(c *Config) { c.PoolRecycle = time.Hour }},
		{"duration seconds", map[string]string{"DB_QUERY_TIMEOUT": "30"}, func(c *Config) { c.QueryTimeout = 30 * time.Second }},
		{"duration fractional seconds", map[string]string{"DB_TX_TIMEOUT": "0.5"}, func(c *Config) { c.TransactionTimeout = 500 * time.Millisecond }},
		{"duration leading dot", map[string]string{"DB_TX_TIMEOUT": ".25"}, func(c *Config) { c.TransactionTimeout = 250 * time.Millisecond }},
		{"duration trailing dot", map[string]string{"DB_TX_TIMEOUT": "2."}, func(c *Config) { c.TransactionTimeout = 2 * time.Second }},
		{"duration exact decimal", map[string]string{"DB_CONN_MAX_IDLE_TIME": "0.1"}, func(c *Config) { c.ConnMaxIdleTime = 100 * time.Millisecond }},
		{"duration zero", map[string]string{"DB_LONG_RUNNING_THRESHOLD": "0"}, func(c *Config) { c.LongRunningThreshold = 0 }},
		{"duration zero go syntax", map[string]string{"DB_IDLE_IN_TX_THRESHOLD": "0s"}, func(c *Config) { c.IdleInTxThreshold = 0 }},
		{"duration with spaces", map[string]string{"DB_POOL_TIMEOUT": " 45s "}, func(c *Config) { c.PoolTimeout = 45 * time.Second }},
		{"operation timeouts", map[string]string{
			"DB_QUERY_TIMEOUT_QUERY":  "5s",
			"DB_QUERY_TIMEOUT_CREATE": "6",
			"DB_QUERY_TIMEOUT_UPDATE": "7.5",
			"DB_QUERY_TIMEOUT_DELETE": "-1",     // negative: no deadline
			"DB_QUERY_TIMEOUT_RAW":    "-250ms", // negative: no deadline
			"DB_QUERY_TIMEOUT_ROW":    "0",
		}, func(c *Config) {
			c.OperationTimeouts = OperationTimeouts{
				Query: 5 * time.Second, Create: 6 * time.Second, Update: 7500 * time.Millisecond,
				Delete: -time.Second, Raw: -250 * time.Millisecond, Row: 0,
			}
		}},
		{"bool true", map[string]string{"DB_LOG_PARAMS": "true"}, func(c *Config) { c.LogParams = true }},
		{"bool 1", map[string]string{"DB_LOG_PARAMS": "1"}, func(c *Config) { c.LogParams = true }},
		{"bool TRUE", map[string]string{"DB_LOG_PARAMS": "TRUE"}, func(c *Config) { c.LogParams = true }},
		{"bool yes", map[string]string{"DB_LOG_PARAMS": "Yes"}, func(c *Config) { c.LogParams = true }},
		{"bool on", map[string]string{"DB_BREAKER_DISABLED": "on"}, func(c *Config) { c.Breaker.Disabled = true }},
		{"bool t", map[string]string{"DB_BREAKER_DISABLED": "t"}, func(c *Config) { c.Breaker.Disabled = true }},
		{"bool false", map[string]string{"DB_LOG_PARAMS": "false"}, func(c *Config) { c.LogParams = false }},
		{"bool 0", map[string]string{"DB_LOG_PARAMS": "0"}, func(c *Config) {}},
		{"bool off", map[string]string{"DB_BREAKER_DISABLED": "OFF"}, func(c *Config) {}},
		{"bool no", map[string]string{"DB_BREAKER_DISABLED": "no"}, func(c *Config) {}},
		{"breaker counts", map[string]string{
			"DB_BREAKER_CONSECUTIVE_FAILURES":   "3",
			"DB_BREAKER_MIN_REQUESTS":           "100",
			"DB_BREAKER_HALF_OPEN_MAX_REQUESTS": "4294967295",
		}, func(c *Config) {
			c.Breaker.ConsecutiveFailures, c.Breaker.MinRequests, c.Breaker.HalfOpenMaxRequests = 3, 100, 4294967295
		}},
		{"breaker count zero means default", map[string]string{"DB_BREAKER_CONSECUTIVE_FAILURES": "0"}, func(c *Config) { c.Breaker.ConsecutiveFailures = 0 }},
		{"breaker ratios", map[string]string{"DB_BREAKER_FAILURE_RATIO": "0.25", "DB_BREAKER_SLOW_CALL_RATE": "1"}, func(c *Config) {
			c.Breaker.FailureRatio, c.Breaker.SlowCallRate = 0.25, 1
		}},
		{"breaker ratio zero means default", map[string]string{"DB_BREAKER_FAILURE_RATIO": "0"}, func(c *Config) { c.Breaker.FailureRatio = 0 }},
		{"breaker durations", map[string]string{
			"DB_BREAKER_INTERVAL":            "2m",
			"DB_BREAKER_OPEN_TIMEOUT":        "10",
			"DB_BREAKER_SLOW_CALL_THRESHOLD": "1.5",
		}, func(c *Config) {
			c.Breaker.Interval, c.Breaker.OpenTimeout, c.Breaker.SlowCallThreshold = 2*time.Minute, 10*time.Second, 1500*time.Millisecond
		}},
		{"unrelated variables ignored", map[string]string{"DB_POOL": "x", "POOL_SIZE": "x", "db_pool_size": "x"}, func(c *Config) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := configFromLookup(mapLookup(tt.env))
			if err != nil {
				t.Fatalf("configFromLookup: %v", err)
			}
			want := DefaultConfig()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
			// ConfigFromEnv's promise: a nil error means a valid Config.
			if err := got.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestConfigFromLookupAllVariables(t *testing.T) {
	// Every variable in the table set at once, to a non-default value.
	env := map[string]string{
		"DB_LOG_PARAMS": "true", "DB_POOL_SIZE": "11", "DB_MAX_OVERFLOW": "12",
		"DB_POOL_TIMEOUT": "13", "DB_POOL_RECYCLE": "14", "DB_CONN_MAX_IDLE_TIME": "15",
		"DB_QUERY_TIMEOUT": "16", "DB_QUERY_TIMEOUT_QUERY": "17", "DB_QUERY_TIMEOUT_CREATE": "18",
		"DB_QUERY_TIMEOUT_UPDATE": "19", "DB_QUERY_TIMEOUT_DELETE": "20", "DB_QUERY_TIMEOUT_RAW": "21",
		"DB_QUERY_TIMEOUT_ROW": "22", "DB_TX_TIMEOUT": "23", "DB_SLOW_THRESHOLD": "24",
		"DB_LONG_RUNNING_THRESHOLD": "25", "DB_IDLE_IN_TX_THRESHOLD": "26",
		"DB_BREAKER_DISABLED": "true", "DB_BREAKER_CONSECUTIVE_FAILURES": "27",
		"DB_BREAKER_FAILURE_RATIO": "0.28", "DB_BREAKER_MIN_REQUESTS": "29",
		"DB_BREAKER_INTERVAL": "30", "DB_BREAKER_OPEN_TIMEOUT": "31",
		"DB_BREAKER_HALF_OPEN_MAX_REQUESTS": "32", "DB_BREAKER_SLOW_CALL_THRESHOLD": "33",
		"DB_BREAKER_SLOW_CALL_RATE": "0.34",
	}
	for _, f := range configFields {
		if f.env != "" {
			if _, ok := env[f.env]; !ok {
				t.Errorf("test does not set %s", f.env)
			}
		}
	}
	got, err := configFromLookup(mapLookup(env))
	if err != nil {
		t.Fatal(err)
	}
	s := time.Second
	want := Config{
		LogParams: true, PoolSize: 11, MaxOverflow: 12,
		PoolTimeout: 13 * s, PoolRecycle: 14 * s, ConnMaxIdleTime: 15 * s,
		QueryTimeout: 16 * s,
		OperationTimeouts: OperationTimeouts{
			Query: 17 * s, Create: 18 * s, Update: 19 * s, Delete: 20 * s, Raw: 21 * s, Row: 22 * s,
		},
		TransactionTimeout: 23 * s, SlowThreshold: 24 * s, LongRunningThreshold: 25 * s, IdleInTxThreshold: 26 * s,
	}
	want.Breaker.Disabled = true
	want.Breaker.ConsecutiveFailures = 27
	want.Breaker.FailureRatio = 0.28
	want.Breaker.MinRequests = 29
	want.Breaker.Interval = 30 * s
	want.Breaker.OpenTimeout = 31 * s
	want.Breaker.HalfOpenMaxRequests = 32
	want.Breaker.SlowCallThreshold = 33 * s
	want.Breaker.SlowCallRate = 0.34
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestConfigFromLookupBad(t *testing.T) {
	tests := []struct {
		name, env, value, reason string
	}{
		{"int word", "DB_POOL_SIZE", "five", wantInt},
		{"int fraction", "DB_POOL_SIZE", "1.5", wantInt},
		{"int with unit", "DB_MAX_OVERFLOW", "10s", wantInt},
		{"int overflow", "DB_MAX_OVERFLOW", "99999999999999999999", wantInt + " that fits in an int"},
		{"pool size zero", "DB_POOL_SIZE", "0", "must be at least 1"},
		{"pool size negative", "DB_POOL_SIZE", "-2", "must be at least 1"},
		{"overflow negative", "DB_MAX_OVERFLOW", "-1", "must not be negative"},
		{"duration word", "DB_POOL_TIMEOUT", "forever", wantDuration},
		{"duration bad unit", "DB_POOL_TIMEOUT", "10x", wantDuration},
		{"duration space inside", "DB_POOL_TIMEOUT", "10 s", wantDuration},
		{"duration exponent", "DB_POOL_TIMEOUT", "1e3", wantDuration},
		{"duration two dots", "DB_POOL_TIMEOUT", "1.2.3", wantDuration},
		{"duration lone sign", "DB_POOL_TIMEOUT", "-", wantDuration},
		{"duration lone dot", "DB_POOL_TIMEOUT", ".", wantDuration},
		{"duration overflow", "DB_POOL_TIMEOUT", "99999999999", wantDuration},
		{"duration negative", "DB_POOL_TIMEOUT", "-3s", "must not be negative"},
		{"duration negative seconds", "DB_TX_TIMEOUT", "-0.5", "must not be negative"},
		{"breaker duration negative", "DB_BREAKER_OPEN_TIMEOUT", "-1m", "must not be negative"},
		{"operation timeout word", "DB_QUERY_TIMEOUT_ROW", "none", wantDuration},
		{"uint negative", "DB_BREAKER_MIN_REQUESTS", "-1", wantUint32},
		{"uint overflow", "DB_BREAKER_CONSECUTIVE_FAILURES", "4294967296", wantUint32},
		{"uint fraction", "DB_BREAKER_HALF_OPEN_MAX_REQUESTS", "1.0", wantUint32},
		{"ratio word", "DB_BREAKER_FAILURE_RATIO", "half", wantRatio},
		{"ratio percent", "DB_BREAKER_FAILURE_RATIO", "50%", wantRatio},
		{"ratio above 1", "DB_BREAKER_FAILURE_RATIO", "1.5", "must be in (0, 1], or 0 for the default"},
		{"ratio negative", "DB_BREAKER_SLOW_CALL_RATE", "-0.1", "must be in (0, 1], or 0 for the default"},
		{"ratio NaN", "DB_BREAKER_FAILURE_RATIO", "NaN", "must be in (0, 1], or 0 for the default"},
		{"ratio Inf", "DB_BREAKER_SLOW_CALL_RATE", "Inf", "must be in (0, 1], or 0 for the default"},
		{"bool word", "DB_LOG_PARAMS", "maybe", wantBool},
		{"bool 2", "DB_BREAKER_DISABLED", "2", wantBool},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := configFromLookup(mapLookup(map[string]string{tt.env: " " + tt.value + " "}))
			if err == nil {
				t.Fatalf("no error; config %+v", got)
			}
			want := fmt.Sprintf("sessionplugin: bad environment: %s=%q: %s", tt.env, tt.value, tt.reason)
			if err.Error() != want {
				t.Errorf("error\n got %s\nwant %s", err, want)
			}
			var ee *EnvError
			if !errors.As(err, &ee) {
				t.Fatalf("errors.As(*EnvError) failed on %v", err)
			}
			if ee.Var != tt.env || ee.Value != tt.value || ee.Reason != tt.reason || ee.Field != fieldOfEnv(t, tt.env) {
				t.Errorf("EnvError = %+v", *ee)
			}
			// The bad variable leaves its field at the default.
			if !reflect.DeepEqual(got, DefaultConfig()) {
				t.Errorf("config changed by a bad variable: %+v", got)
			}
		})
	}
}

func fieldOfEnv(t *testing.T, env string) string {
	t.Helper()
	for _, f := range configFields {
		if f.env == env {
			return f.field
		}
	}
	t.Fatalf("%s is not in configFields", env)
	return ""
}

func TestConfigFromLookupManyBad(t *testing.T) {
	env := map[string]string{
		"DB_POOL_SIZE":             "five",
		"DB_POOL_TIMEOUT":          "-3s",
		"DB_MAX_OVERFLOW":          "3",    // good
		"DB_QUERY_TIMEOUT":         "0.75", // good
		"DB_LOG_PARAMS":            "sometimes",
		"DB_BREAKER_FAILURE_RATIO": "2",
		"DB_BREAKER_INTERVAL":      "90", // good
	}
	got, err := configFromLookup(mapLookup(env))
	if err == nil {
		t.Fatal("no error")
	}
	// One line, every bad variable named, in table order.
	want := `sessionplugin: bad environment: DB_LOG_PARAMS="sometimes": ` + wantBool +
		`; DB_POOL_SIZE="five": want an integer; DB_POOL_TIMEOUT="-3s": must not be negative` +
		`; DB_BREAKER_FAILURE_RATIO="2": must be in (0, 1], or 0 for the default`
	if err.Error() != want {
		t.Errorf("error\n got %s\nwant %s", err, want)
	}
	u, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("%T has no Unwrap() []error", err)
	}
	var vars []string
	for _, e := range u.Unwrap() {
		var ee *EnvError
		if !errors.As(e, &ee) {
			t.Fatalf("%T is not an *EnvError", e)
		}
		vars = append(vars, ee.Var)
	}
	if w := []string{"DB_LOG_PARAMS", "DB_POOL_SIZE", "DB_POOL_TIMEOUT", "DB_BREAKER_FAILURE_RATIO"}; !reflect.DeepEqual(vars, w) {
		t.Errorf("bad vars %v, want %v", vars, w)
	}

	// The good values are applied, the bad ones left at their defaults.
	want2 := DefaultConfig()
	want2.MaxOverflow = 3
	want2.QueryTimeout = 750 * time.Millisecond
	want2.Breaker.Interval = 90 * time.Second
	if !reflect.DeepEqual(got, want2) {
		t.Errorf("got  %+v\nwant %+v", got, want2)
	}
}

func TestConfigFromLookupReadsOnlyTableVariables(t *testing.T) {
	var asked []string
	_, err := configFromLookup(func(k string) (string, bool) {
		asked = append(asked, k)
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range configFields {
		if f.env != "" {
			want = append(want, f.env)
		}
	}
	if !reflect.DeepEqual(asked, want) {
		t.Errorf("looked up %v\nwant      %v", asked, want)
	}
}

// clearConfigEnv blanks every table variable for the test, so values in the
// real environment (a CI job's DB_POOL_SIZE) cannot leak in.
func clearConfigEnv(t *testing.T) {
	for _, f := range configFields {
		if f.env != "" {
			t.Setenv(f.env, "")
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	clearConfigEnv(t)
	t.Setenv("DB_POOL_SIZE", "8")
	t.Setenv("DB_POOL_TIMEOUT", "1m30s")
	t.Setenv("DB_QUERY_TIMEOUT_RAW", "0.5")
	t.Setenv("DB_LOG_PARAMS", "yes")
	t.Setenv("DB_BREAKER_SLOW_CALL_THRESHOLD", "2s")
	got, err := ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.PoolSize = 8
	want.PoolTimeout = 90 * time.Second
	want.OperationTimeouts.Raw = 500 * time.Millisecond
	want.LogParams = true
	want.Breaker.SlowCallThreshold = 2 * time.Second
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}

	t.Run("bad", func(t *testing.T) {
		t.Setenv("DB_MAX_OVERFLOW", "many")
		t.Setenv("DB_BREAKER_MIN_REQUESTS", "-5")
		got, err := ConfigFromEnv()
		const wantErr = `sessionplugin: bad environment: DB_MAX_OVERFLOW="many": want an integer; DB_BREAKER_MIN_REQUESTS="-5": ` + wantUint32
		if err == nil || err.Error() != wantErr {
			t.Errorf("error\n got %v\nwant %s", err, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("good values not kept:\n got  %+v\nwant %+v", got, want)
		}
	})

	t.Run("unset", func(t *testing.T) {
		for _, f := range configFields {
			if f.env != "" {
				os.Unsetenv(f.env) // t.Setenv in the parent restores them
			}
		}
		got, err := ConfigFromEnv()
		if err != nil || !reflect.DeepEqual(got, DefaultConfig()) {
			t.Errorf("ConfigFromEnv() = %+v, %v; want DefaultConfig(), nil", got, err)
		}
	})
}

// configLeafFields lists the path of every field of Config, descending into
// nested structs (other than time.Duration).
func configLeafFields(typ reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			out = append(out, configLeafFields(f.Type, prefix+f.Name+".")...)
			continue
		}
		out = append(out, prefix+f.Name)
	}
	return out
}

// TestConfigFields keeps configFields in step with the Config struct: every
// field is listed once, in order, and each entry's pointer is to the field
// it names.
func TestConfigFields(t *testing.T) {
	var listed []string
	envs := map[string]bool{}
	for _, f := range configFields {
		listed = append(listed, f.field)
		if f.doc == "" || strings.ContainsAny(f.doc, "|\n") {
			t.Errorf("%s: doc must be one non-empty line without '|'", f.field)
		}

		var c Config
		p := reflect.ValueOf(f.ptr(&c))
		v := reflect.ValueOf(&c).Elem().FieldByName(strings.Split(f.field, ".")[0])
		for _, name := range strings.Split(f.field, ".")[1:] {
			if v.IsValid() {
				v = v.FieldByName(name)
			}
		}
		if !v.IsValid() || p.Kind() != reflect.Pointer || p.Pointer() != v.Addr().Pointer() || p.Type().Elem() != v.Type() {
			t.Errorf("%s: ptr does not point at Config.%s", f.field, f.field)
		}

		if f.env == "" {
			continue
		}
		if !strings.HasPrefix(f.env, "DB_") || strings.ToUpper(f.env) != f.env {
			t.Errorf("%s: env %q is not DB_UPPER_CASE", f.field, f.env)
		}
		if envs[f.env] {
			t.Errorf("%s: env %s listed twice", f.field, f.env)
		}
		envs[f.env] = true
		switch f.ptr(&c).(type) {
		case *int, *uint32, *float64, *bool, *time.Duration:
		default:
			t.Errorf("%s: env %s set but parseInto cannot parse %T", f.field, f.env, f.ptr(&c))
		}
	}
	if want := configLeafFields(reflect.TypeOf(Config{}), ""); !reflect.DeepEqual(listed, want) {
		t.Errorf("configFields in plugin/env.go lists\n%v\nbut Config has\n%v\n"+
			"add a row per new field, then run: go test ./plugin/ -run TestConfigDocs -%s",
			listed, want, updateDocsFlag)
	}
}

const (
	updateDocsFlag = "update-config-docs"
	docsBegin      = "<!-- BEGIN config table: generated from configFields in plugin/env.go by `go test ./plugin/ -run TestConfigDocs -update-config-docs` -->"
	docsEnd        = "<!-- END config table -->"
)

var docsPaths = []string{"../docs/config.md", "../README.md"}

var updateDocs = flag.Bool(updateDocsFlag, false, "rewrite the table in docs/config.md from configFields")

// configDocsTable renders configFields as the markdown table of
// docs/config.md.
func configDocsTable() string {
	var b strings.Builder
	b.WriteString("| Field | Env var | Default | Meaning |\n")
	b.WriteString("|---|---|---|---|\n")
	def := DefaultConfig()
	for _, f := range configFields {
		env := "—"
		if f.env != "" {
			env = "`" + f.env + "`"
		}
		d := f.def
		if d == "" {
			d = formatDefault(fieldValue(f.ptr(&def)))
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", f.field, env, d, f.doc)
	}
	return b.String()
}

// formatDefault writes a default the way a user would type it in the
// environment: "30m" rather than "30m0s".
func formatDefault(v any) string {
	switch v := v.(type) {
	case time.Duration:
		if v == 0 {
			return "0"
		}
		s := v.String()
		if strings.HasSuffix(s, "m0s") {
			s = strings.TrimSuffix(s, "0s")
		}
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		return s
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}

func TestFormatDefault(t *testing.T) {
	for v, want := range map[any]string{
		time.Duration(0): "0", 200 * time.Millisecond: "200ms", 30 * time.Second: "30s",
		30 * time.Minute: "30m", 90 * time.Second: "1m30s", time.Hour: "1h", 61 * time.Minute: "1h1m",
		0.5: "0.5", 1.0: "1", 5: "5", uint32(20): "20", false: "false",
	} {
		if got := formatDefault(v); got != want {
			t.Errorf("formatDefault(%#v) = %q, want %q", v, got, want)
		}
	}
}

// TestConfigDocs keeps the table in docs/config.md and README.md equal to
// configFields. Run it with -update-config-docs to rewrite the tables.
func TestConfigDocs(t *testing.T) {
	for _, path := range docsPaths {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		doc := string(raw)
		i, j := strings.Index(doc, docsBegin), strings.Index(doc, docsEnd)
		if i < 0 || j < i {
			t.Fatalf("%s: markers %q and %q not found", path, docsBegin, docsEnd)
		}
		start := i + len(docsBegin) + 1 // past the newline
		want := configDocsTable()
		if doc[start:j] == want {
			continue
		}
		if *updateDocs {
			if err := os.WriteFile(path, []byte(doc[:start]+want+doc[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("rewrote the table in %s", path)
			continue
		}
		t.Errorf("%s is out of date; run: go test ./plugin/ -run TestConfigDocs -%s\nwant table:\n%s", path, updateDocsFlag, want)
	}
}

// badEnvValues returns, for f's variable, values ConfigFromEnv must reject
// and the reason it gives for each: malformed ones for every variable, and
// well-formed ones that break f.rule where it has one.
func badEnvValues(t *testing.T, f *configField) map[string]string {
	t.Helper()
	var c Config
	m := map[string]string{}
	var want string
	switch f.ptr(&c).(type) {
	case *int:
		want = wantInt
		m["1e3"], m["0x10"], m["1_000"] = want, want, want
		m["99999999999999999999"] = wantInt + " that fits in an int"
	case *uint32:
		want = wantUint32
		m["-1"], m["4294967296"], m["1.5"] = want, want, want
	case *float64:
		want = wantRatio
		m["50%"], m["0,5"], m["1/2"] = want, want, want
	case *bool:
		want = wantBool
		m["2"], m["y"], m["enabled"], m["truee"] = want, want, want, want
	case *time.Duration:
		want = wantDuration
		m["10 s"], m["1e3"], m["1d"], m["--1s"], m["9223372037s"] = want, want, want, want, want
	default:
		t.Fatalf("%s: %s is set from %T; teach this test its bad values", f.field, f.env, f.ptr(&c))
	}
	for _, v := range []string{"x", "-", ".", "+", "\x00", "é", "1 2", "\"5\"", "five\nsix"} {
		m[v] = want
	}
	switch f.rule {
	case ruleAtLeastOne:
		m["0"], m["-1"] = "must be at least 1", "must be at least 1"
	case ruleNonNegative:
		if _, ok := f.ptr(&c).(*time.Duration); ok {
			m["-1s"], m["-0.001"], m["-1ns"] = "must not be negative", "must not be negative", "must not be negative"
		} else {
			m["-1"] = "must not be negative"
		}
	case ruleRatio:
		for _, v := range []string{"1.5", "-0.1", "NaN", "Inf", "-Inf", "1e9"} {
			m[v] = "must be in (0, 1], or 0 for the default"
		}
	}
	return m
}

// TestConfigFromLookupEveryVariable goes through configFields, so a
// variable added later is covered too: each bad value of each variable gives
// one *EnvError naming the variable, its value, its field and the reason, in
// a one-line message, and leaves the Config at its defaults.
func TestConfigFromLookupEveryVariable(t *testing.T) {
	for i := range configFields {
		f := &configFields[i]
		if f.env == "" {
			continue
		}
		for value, reason := range badEnvValues(t, f) {
			t.Run(fmt.Sprintf("%s=%q", f.env, value), func(t *testing.T) {
				got, err := configFromLookup(mapLookup(map[string]string{f.env: value}))
				if err == nil {
					t.Fatalf("accepted; config %+v", got)
				}
				want := fmt.Sprintf("sessionplugin: bad environment: %s=%q: %s", f.env, value, reason)
				if err.Error() != want {
					t.Errorf("error\n got %s\nwant %s", err, want)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("message spans lines: %q", err)
				}
				var ee *EnvError
				if !errors.As(err, &ee) || ee.Var != f.env || ee.Value != value || ee.Field != f.field || ee.Reason != reason {
					t.Errorf("EnvError = %+v", ee)
				}
				if !reflect.DeepEqual(got, DefaultConfig()) {
					t.Errorf("config changed by a bad variable: %+v", got)
				}
			})
		}
	}
}
