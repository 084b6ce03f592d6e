package sessionplugin

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ConfigFromEnv returns DefaultConfig with every configuration variable that
// is set in the environment applied on top. The variables, their formats and
// the fields they set are listed in docs/config.md:
//
//   - integers: DB_POOL_SIZE, DB_MAX_OVERFLOW (the seed's SQLAlchemy names)
//     and the DB_BREAKER_* counts;
//   - durations: Go syntax ("1m30s", "250ms") or plain, possibly fractional,
//     seconds ("30", "0.5");
//   - booleans: true/false, 1/0, t/f, yes/no, on/off, in any case;
//   - ratios: a number such as "0.5".
//
// Surrounding spaces are trimmed, and a variable that is unset or blank
// keeps its default. Logger is left nil (no logging); set it in code.
//
// Every variable is checked against the same rules as Config.Validate, so a
// nil error means the returned Config is valid.
//
// On failure ConfigFromEnv still returns the Config with every good variable
// applied and every bad one left at its default, together with one error
// naming every bad variable, its value and what was expected, e.g.
//
//	sessionplugin: bad environment: DB_POOL_SIZE="five": want an integer; DB_POOL_TIMEOUT="-3s": must not be negative
//
// Each bad variable is an *EnvError inside that error; get them with
// errors.As, or all of them through its Unwrap() []error method.
func ConfigFromEnv() (Config, error) {
	return configFromLookup(os.LookupEnv)
}

// EnvError is one environment variable that ConfigFromEnv could not use. It
// is wrapped, with any others, in the error ConfigFromEnv returns.
type EnvError struct {
	// Var is the variable's name, e.g. "DB_POOL_SIZE".
	Var string
	// Value is the variable's value, surrounding spaces trimmed.
	Value string
	// Field is the Config field the variable sets, e.g. "PoolSize" or
	// "Breaker.FailureRatio".
	Field string
	// Reason says what was expected, e.g. "want an integer" or "must not be
	// negative".
	Reason string
}

// Error returns `VAR="value": reason`, e.g. `DB_POOL_SIZE="five": want an
// integer`.
func (e *EnvError) Error() string {
	return fmt.Sprintf("%s=%q: %s", e.Var, e.Value, e.Reason)
}

// envErrors is the error ConfigFromEnv returns: like errors.Join, but its
// message is one line, "; "-separated, so it reads well in a log or a
// startup failure.
type envErrors []error

func (e envErrors) Error() string {
	var b strings.Builder
	b.WriteString("sessionplugin: bad environment: ")
	for i, err := range e {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

func (e envErrors) Unwrap() []error { return e }

// configFromLookup is ConfigFromEnv reading variables through lookup, which
// has the signature of os.LookupEnv.
func configFromLookup(lookup func(string) (string, bool)) (Config, error) {
	c := DefaultConfig()
	var errs envErrors
	for i := range configFields {
		f := &configFields[i]
		if f.env == "" {
			continue
		}
		raw, ok := lookup(f.env)
		s := strings.TrimSpace(raw)
		if !ok || s == "" {
			continue
		}
		if reason := f.parseInto(&c, s); reason != "" {
			errs = append(errs, &EnvError{Var: f.env, Value: s, Field: f.field, Reason: reason})
		}
	}
	if len(errs) > 0 {
		return c, errs
	}
	return c, nil
}

// configField describes one Config field: its environment variable, the
// rule Validate and ConfigFromEnv check it against, and its documentation.
// configFields is the one list that ConfigFromEnv, Validate and
// docs/config.md (through TestConfigDocs) are built from.
type configField struct {
	field string               // path below Config: "PoolSize", "Breaker.FailureRatio"
	env   string               // environment variable; "" when the field has none
	rule  fieldRule            // what values are valid
	ptr   func(c *Config) any  // pointer to the field in c
	when  func(c *Config) bool // if set, Validate checks the field only when it returns true
	doc   string               // meaning, one markdown line (no '|')
	def   string               // default for the docs when not derived from DefaultConfig
}

var configFields = []configField{
	{field: "Logger", ptr: func(c *Config) any { return &c.Logger }, def: "nil (no logging)",
		doc: "Receives one structured line per failed scope, breaker state changes and the monitor's reports. Set in code; nil means zap.NewNop()."},
	{field: "LogParams", env: "DB_LOG_PARAMS", ptr: func(c *Config) any { return &c.LogParams },
		doc: "Log bound parameter values in the SQL of a log line. Off by default: values may hold personal data or secrets."},

	{field: "PoolSize", env: "DB_POOL_SIZE", rule: ruleAtLeastOne, ptr: func(c *Config) any { return &c.PoolSize },
		doc: "Connections kept idle (MaxIdleConns). At least 1."},
	{field: "MaxOverflow", env: "DB_MAX_OVERFLOW", rule: ruleNonNegative, ptr: func(c *Config) any { return &c.MaxOverflow },
		doc: "Connections that may be opened beyond PoolSize under load; MaxOpenConns = PoolSize + MaxOverflow. At least 0."},
	{field: "PoolTimeout", env: "DB_POOL_TIMEOUT", rule: ruleNonNegative, ptr: func(c *Config) any { return &c.PoolTimeout },
		doc: "Longest wait for a free connection; past it the statement or BEGIN fails with ErrPoolTimeout (category pool_exhausted). 0 waits as long as the statement's own deadline."},
	{field: "PoolRecycle", env: "DB_POOL_RECYCLE", rule: ruleNonNegative, ptr: func(c *Config) any { return &c.PoolRecycle },
		doc: "ConnMaxLifetime: a connection older than this is closed instead of reused. 0 keeps connections forever."},
	{field: "ConnMaxIdleTime", env: "DB_CONN_MAX_IDLE_TIME", rule: ruleNonNegative, ptr: func(c *Config) any { return &c.ConnMaxIdleTime },
		doc: "A connection idle for longer than this is closed. 0 never closes idle connections."},

	{field: "QueryTimeout", env: "DB_QUERY_TIMEOUT", rule: ruleNonNegative, ptr: func(c *Config) any { return &c.QueryTimeout },
		doc: "Deadline of one statement, applied when the caller's context has no sooner one. 0 means no deadline."},
	{field: "OperationTimeouts.Query", env: "DB_QUERY_TIMEOUT_QUERY", ptr: func(c *Config) any { return &c.OperationTimeouts.Query },
		doc: "Overrides QueryTimeout for queries (First, Find, Take, Count, Pluck). 0 uses QueryTimeout; negative means no deadline."},
	{field: "OperationTimeouts.Create", env: "DB_QUERY_TIMEOUT_CREATE", ptr: func(c *Config) any { return &c.OperationTimeouts.Create },
		doc: "Overrides QueryTimeout for Create. 0 uses QueryTimeout; negative means no deadline."},
	{field: "OperationTimeouts.Update", env: "DB_QUERY_TIMEOUT_UPDATE", ptr: func(c *Config) any { return &c.OperationTimeouts.Update },
		doc: "Overrides QueryTimeout for Update, Updates and Save. 0 uses QueryTimeout; negative means no deadline."},
	{field: "OperationTimeouts.Delete", env: "DB_QUERY_TIMEOUT_DELETE", ptr: func(c *Config) any { return &c.OperationTimeouts.Delete },
		doc: "Overrides QueryTimeout for Delete. 0 uses QueryTimeout; negative means no deadline."},
	{field: "OperationTimeouts.Raw", env: "DB_QUERY_TIMEOUT_RAW", ptr: func(c *Config) any { return &c.OperationTimeouts.Raw },
		doc: "Overrides QueryTimeout for Exec (GORM's raw callback). 0 uses QueryTimeout; negative means no deadline."},
	{field: "OperationTimeouts.Row", env: "DB_QUERY_TIMEOUT_ROW", ptr: func(c *Config) any { return &c.OperationTimeouts.Row },
		doc: "Overrides QueryTimeout for Row, Rows and Scan (GORM's row callback). 0 uses QueryTimeout; negative means no deadline."},
	{field: "TransactionTimeout", env: "DB_TX_TIMEOUT", rule: ruleNonNegative, ptr: func(c *Config) any { return &c.TransactionTimeout },
		doc: "Bounds a whole transaction, from BEGIN to COMMIT. 0 means no deadline."},

	{field: "SlowThreshold", env: "DB_SLOW_THRESHOLD", rule: ruleNonNegative, ptr: func(c *Config) any { return &c.SlowThreshold },
		doc: "A statement slower than this is logged at warn. 0 turns it off."},
	{field: "LongRunningThreshold", env: "DB_LONG_RUNNING_THRESHOLD", rule: ruleNonNegative, ptr: func(c *Config) any { return &c.LongRunningThreshold },
		doc: "A scope open longer than this is reported by the monitor. 0 turns it off."},
	{field: "IdleInTxThreshold", env: "DB_IDLE_IN_TX_THRESHOLD", rule: ruleNonNegative, ptr: func(c *Config) any { return &c.IdleInTxThreshold },
		doc: "A transaction with no statement running for longer than this is reported as idle in transaction. 0 turns it off."},

	{field: "Breaker.Disabled", env: "DB_BREAKER_DISABLED", ptr: func(c *Config) any { return &c.Breaker.Disabled },
		doc: "Turns the circuit breaker off: statements are never rejected and nothing is counted."},
	{field: "Breaker.ConsecutiveFailures", env: "DB_BREAKER_CONSECUTIVE_FAILURES", ptr: func(c *Config) any { return &c.Breaker.ConsecutiveFailures },
		doc: "Opens the breaker after this many infrastructure failures in a row. 0 means the default."},
	{field: "Breaker.FailureRatio", env: "DB_BREAKER_FAILURE_RATIO", rule: ruleRatio, ptr: func(c *Config) any { return &c.Breaker.FailureRatio },
		doc: "Opens the breaker when failures / requests in the current Interval reaches this, once MinRequests were seen. In (0, 1]; 0 means the default."},
	{field: "Breaker.MinRequests", env: "DB_BREAKER_MIN_REQUESTS", ptr: func(c *Config) any { return &c.Breaker.MinRequests },
		doc: "Requests in an Interval before FailureRatio and SlowCallRate apply. 0 means the default."},
	{field: "Breaker.Interval", env: "DB_BREAKER_INTERVAL", rule: ruleNonNegative, ptr: func(c *Config) any { return &c.Breaker.Interval },
		doc: "Closed-state window after which the counts are cleared. 0 means the default."},
	{field: "Breaker.OpenTimeout", env: "DB_BREAKER_OPEN_TIMEOUT", rule: ruleNonNegative, ptr: func(c *Config) any { return &c.Breaker.OpenTimeout },
		doc: "How long the breaker stays open before it lets HalfOpenMaxRequests probes through. 0 means the default."},
	{field: "Breaker.HalfOpenMaxRequests", env: "DB_BREAKER_HALF_OPEN_MAX_REQUESTS", ptr: func(c *Config) any { return &c.Breaker.HalfOpenMaxRequests },
		doc: "Probes allowed through while half-open. 0 means the default."},
	{field: "Breaker.SlowCallThreshold", env: "DB_BREAKER_SLOW_CALL_THRESHOLD", rule: ruleNonNegative, ptr: func(c *Config) any { return &c.Breaker.SlowCallThreshold },
		doc: "A successful call slower than this counts as slow. 0 turns slow-call tripping off."},
	{field: "Breaker.SlowCallRate", env: "DB_BREAKER_SLOW_CALL_RATE", rule: ruleRatio, ptr: func(c *Config) any { return &c.Breaker.SlowCallRate },
		when: func(c *Config) bool { return c.Breaker.SlowCallThreshold > 0 },
		doc:  "Opens the breaker when slow calls / requests in the current Interval reaches this, once MinRequests were seen. In (0, 1]; 0 means the default. Used only when SlowCallThreshold > 0."},
	{field: "SharedBreaker", ptr: func(c *Config) any { return &c.SharedBreaker }, def: "nil (not shared)",
		doc: "Shares each source's breaker with the service's other instances (a redisshare.Fleet): one opens, all fail fast; one at a time probes. Set in code; nil keeps each instance's breakers its own."},
}

// What each kind of variable must look like.
const (
	wantInt      = "want an integer"
	wantUint32   = "want a whole number from 0 to 4294967295"
	wantRatio    = "want a number"
	wantBool     = "want a boolean (true/false, 1/0, yes/no, on/off)"
	wantDuration = `want a duration such as "1m30s" or "250ms", or seconds such as "30" or "0.5"`
)

// parseInto parses s into f's field of c if s is well formed and passes
// f.rule. It returns "" on success, otherwise what was wrong, leaving the
// field unchanged.
func (f *configField) parseInto(c *Config, s string) string {
	switch p := f.ptr(c).(type) {
	case *int:
		v, err := strconv.Atoi(s)
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return wantInt + " that fits in an int"
		}
		return store(p, v, err, wantInt, f.rule)
	case *uint32:
		v, err := strconv.ParseUint(s, 10, 32)
		return store(p, uint32(v), err, wantUint32, f.rule)
	case *float64:
		v, err := strconv.ParseFloat(s, 64)
		return store(p, v, err, wantRatio, f.rule)
	case *bool:
		v, err := parseBool(s)
		return store(p, v, err, wantBool, f.rule)
	case *time.Duration:
		v, err := parseDuration(s)
		return store(p, v, err, wantDuration, f.rule)
	default:
		// A field with an env var needs a case above; TestConfigFields
		// makes sure every one has.
		return fmt.Sprintf("cannot be set from the environment (%T)", p)
	}
}

// store sets *p = v when err is nil and v passes rule; see parseInto.
func store[T any](p *T, v T, err error, want string, rule fieldRule) string {
	if err != nil {
		return want
	}
	if reason := rule.check(v); reason != "" {
		return reason
	}
	*p = v
	return ""
}

// parseBool accepts what strconv.ParseBool does, in any case, plus yes/no
// and on/off.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "yes", "on":
		return true, nil
	case "no", "off":
		return false, nil
	}
	return strconv.ParseBool(strings.ToLower(s))
}

// parseDuration accepts Go duration syntax ("1m30s", "-250ms") or a plain,
// possibly signed and fractional, number of seconds ("30", "0.5", "-1").
func parseDuration(s string) (time.Duration, error) {
	if isPlainNumber(s) {
		// Exact decimal parsing and overflow checks come from
		// time.ParseDuration itself.
		return time.ParseDuration(s + "s")
	}
	return time.ParseDuration(s)
}

// isPlainNumber reports whether s is [+-]digits[.digits], with digits on at
// least one side of the point.
func isPlainNumber(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] >= '0' && s[i] <= '9':
			digits++
		case s[i] == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}
