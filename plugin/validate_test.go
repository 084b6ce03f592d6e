package sessionplugin

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/internal/testdb"
)

func TestValidateValid(t *testing.T) {
	tests := []struct {
		name   string
		modify func(c *Config)
	}{
		{"defaults", func(c *Config) {}},
		{"pool size 1, no overflow", func(c *Config) { c.PoolSize, c.MaxOverflow = 1, 0 }},
		{"durations off", func(c *Config) {
			c.PoolTimeout, c.PoolRecycle, c.ConnMaxIdleTime = 0, 0, 0
			c.QueryTimeout, c.TransactionTimeout = 0, 0
			c.SlowThreshold, c.LongRunningThreshold, c.IdleInTxThreshold = 0, 0, 0
		}},
		{"negative operation timeouts mean no deadline", func(c *Config) {
			c.OperationTimeouts = OperationTimeouts{Query: -1, Create: -time.Second, Update: -1, Delete: -1, Raw: -1, Row: -1}
		}},
		{"pool timeout longer than transaction timeout", func(c *Config) {
			c.PoolTimeout, c.TransactionTimeout = time.Hour, time.Second
		}},
		{"zero breaker means defaults", func(c *Config) { c.Breaker = breaker.Config{} }},
		{"ratios at 1", func(c *Config) {
			c.Breaker.FailureRatio, c.Breaker.SlowCallRate, c.Breaker.SlowCallThreshold = 1, 1, time.Second
		}},
		{"tiny ratios", func(c *Config) {
			c.Breaker.FailureRatio, c.Breaker.SlowCallRate, c.Breaker.SlowCallThreshold = 1e-9, 1e-9, time.Second
		}},
		{"slow call rate unused without threshold", func(c *Config) {
			c.Breaker.SlowCallThreshold, c.Breaker.SlowCallRate = 0, 5
		}},
		{"disabled breaker", func(c *Config) { c.Breaker.Disabled = true }},
		{"huge values", func(c *Config) {
			c.PoolSize, c.MaxOverflow, c.PoolRecycle = 1<<20, 1<<20, math.MaxInt64
			c.Breaker.ConsecutiveFailures, c.Breaker.MinRequests = math.MaxUint32, math.MaxUint32
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.modify(&c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
		})
	}
}

const ratioReason = "must be in (0, 1], or 0 for the default"

func TestValidateInvalid(t *testing.T) {
	tests := []struct {
		name   string
		modify func(c *Config)
		want   []string // every message, in Config field order
	}{
		{"pool size 0", func(c *Config) { c.PoolSize = 0 },
			[]string{"sessionplugin: Config.PoolSize = 0: must be at least 1"}},
		{"pool size negative", func(c *Config) { c.PoolSize = -3 },
			[]string{"sessionplugin: Config.PoolSize = -3: must be at least 1"}},
		{"overflow negative", func(c *Config) { c.MaxOverflow = -1 },
			[]string{"sessionplugin: Config.MaxOverflow = -1: must not be negative"}},
		{"pool timeout negative", func(c *Config) { c.PoolTimeout = -3 * time.Second },
			[]string{"sessionplugin: Config.PoolTimeout = -3s: must not be negative"}},
		{"pool recycle negative", func(c *Config) { c.PoolRecycle = -time.Minute },
			[]string{"sessionplugin: Config.PoolRecycle = -1m0s: must not be negative"}},
		{"idle time negative", func(c *Config) { c.ConnMaxIdleTime = -1 },
			[]string{"sessionplugin: Config.ConnMaxIdleTime = -1ns: must not be negative"}},
		{"query timeout negative", func(c *Config) { c.QueryTimeout = -time.Second },
			[]string{"sessionplugin: Config.QueryTimeout = -1s: must not be negative"}},
		{"tx timeout negative", func(c *Config) { c.TransactionTimeout = -time.Second },
			[]string{"sessionplugin: Config.TransactionTimeout = -1s: must not be negative"}},
		{"thresholds negative", func(c *Config) {
			c.SlowThreshold, c.LongRunningThreshold, c.IdleInTxThreshold = -time.Millisecond, -time.Second, -time.Minute
		}, []string{
			"sessionplugin: Config.SlowThreshold = -1ms: must not be negative",
			"sessionplugin: Config.LongRunningThreshold = -1s: must not be negative",
			"sessionplugin: Config.IdleInTxThreshold = -1m0s: must not be negative",
		}},
		{"breaker durations negative", func(c *Config) {
			c.Breaker.Interval, c.Breaker.OpenTimeout, c.Breaker.SlowCallThreshold = -time.Second, -time.Second, -time.Second
		}, []string{
			"sessionplugin: Config.Breaker.Interval = -1s: must not be negative",
			"sessionplugin: Config.Breaker.OpenTimeout = -1s: must not be negative",
			"sessionplugin: Config.Breaker.SlowCallThreshold = -1s: must not be negative",
		}},
		{"failure ratio above 1", func(c *Config) { c.Breaker.FailureRatio = 1.5 },
			[]string{"sessionplugin: Config.Breaker.FailureRatio = 1.5: " + ratioReason}},
		{"failure ratio negative", func(c *Config) { c.Breaker.FailureRatio = -0.5 },
			[]string{"sessionplugin: Config.Breaker.FailureRatio = -0.5: " + ratioReason}},
		{"failure ratio NaN", func(c *Config) { c.Breaker.FailureRatio = math.NaN() },
			[]string{"sessionplugin: Config.Breaker.FailureRatio = NaN: " + ratioReason}},
		{"failure ratio Inf", func(c *Config) { c.Breaker.FailureRatio = math.Inf(1) },
			[]string{"sessionplugin: Config.Breaker.FailureRatio = +Inf: " + ratioReason}},
		{"slow call rate with threshold", func(c *Config) {
			c.Breaker.SlowCallThreshold, c.Breaker.SlowCallRate = time.Second, 2
		}, []string{"sessionplugin: Config.Breaker.SlowCallRate = 2: " + ratioReason}},
		{"everything at once", func(c *Config) {
			c.PoolSize, c.MaxOverflow = 0, -1
			c.PoolTimeout = -3 * time.Second
			c.OperationTimeouts.Query = -time.Second // fine
			c.Breaker.FailureRatio = 7
			c.Breaker.SlowCallThreshold, c.Breaker.SlowCallRate = -time.Second, 2 // threshold <= 0: rate unchecked
		}, []string{
			"sessionplugin: Config.PoolSize = 0: must be at least 1",
			"sessionplugin: Config.MaxOverflow = -1: must not be negative",
			"sessionplugin: Config.PoolTimeout = -3s: must not be negative",
			"sessionplugin: Config.Breaker.FailureRatio = 7: " + ratioReason,
			"sessionplugin: Config.Breaker.SlowCallThreshold = -1s: must not be negative",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.modify(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate() = nil")
			}
			if got, want := err.Error(), strings.Join(tt.want, "\n"); got != want {
				t.Errorf("Validate() =\n%s\nwant\n%s", got, want)
			}
			u, ok := err.(interface{ Unwrap() []error })
			if !ok {
				t.Fatalf("%T has no Unwrap() []error", err)
			}
			if n := len(u.Unwrap()); n != len(tt.want) {
				t.Errorf("%d errors, want %d", n, len(tt.want))
			}
			for _, e := range u.Unwrap() {
				var ce *ConfigError
				if !errors.As(e, &ce) {
					t.Errorf("%T is not a *ConfigError", e)
				}
			}
		})
	}
}

func TestValidateZeroConfig(t *testing.T) {
	err := Config{}.Validate()
	const want = "sessionplugin: Config.PoolSize = 0: must be at least 1"
	if err == nil || err.Error() != want {
		t.Fatalf("Config{}.Validate() = %v, want %s", err, want)
	}
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("errors.As(*ConfigError) failed on %v", err)
	}
	if want := (ConfigError{Field: "PoolSize", Value: 0, Reason: "must be at least 1"}); !reflect.DeepEqual(*ce, want) {
		t.Errorf("ConfigError = %#v, want %#v", *ce, want)
	}
}

func TestConfigErrorValueTypes(t *testing.T) {
	c := DefaultConfig()
	c.PoolTimeout = -time.Second
	c.Breaker.FailureRatio = 2
	var got []any
	for _, e := range c.Validate().(interface{ Unwrap() []error }).Unwrap() {
		got = append(got, e.(*ConfigError).Value)
	}
	if want := []any{-time.Second, 2.0}; !reflect.DeepEqual(got, want) {
		t.Errorf("values %#v, want %#v", got, want)
	}
}

func TestConfigErrorMessage(t *testing.T) {
	for _, tt := range []struct {
		err  ConfigError
		want string
	}{
		{ConfigError{Field: "PoolSize", Value: 0, Reason: "must be at least 1"}, "sessionplugin: Config.PoolSize = 0: must be at least 1"},
		{ConfigError{Field: "Breaker.Interval", Value: -time.Second, Reason: "must not be negative"}, "sessionplugin: Config.Breaker.Interval = -1s: must not be negative"},
		{ConfigError{Value: nil, Reason: "odd"}, "sessionplugin: Config = <nil>: odd"},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

// invalidValues returns values of f's field that Validate must reject, one
// per kind of mistake, or nil when every value is valid.
func invalidValues(t *testing.T, f *configField) []any {
	t.Helper()
	var c Config
	switch p := f.ptr(&c).(type) {
	case *int:
		switch f.rule {
		case ruleAtLeastOne:
			return []any{0, -1, math.MinInt}
		case ruleNonNegative:
			return []any{-1, math.MinInt}
		}
	case *time.Duration:
		if f.rule == ruleNonNegative {
			return []any{-time.Nanosecond, -time.Hour, time.Duration(math.MinInt64)}
		}
	case *float64:
		if f.rule == ruleRatio {
			return []any{-0.1, 1.0000001, 2.0, math.NaN(), math.Inf(1), math.Inf(-1), -math.SmallestNonzeroFloat64}
		}
	default:
		if f.rule != ruleAny {
			t.Fatalf("%s: no invalid values known for %T", f.field, p)
		}
	}
	if f.rule != ruleAny {
		t.Fatalf("%s: rule %d has no invalid values for its type", f.field, f.rule)
	}
	return nil
}

// extremeValues returns odd but valid values of a field without a rule.
func extremeValues(t *testing.T, f *configField) []any {
	t.Helper()
	var c Config
	switch f.ptr(&c).(type) {
	case *uint32:
		return []any{uint32(0), uint32(1), uint32(math.MaxUint32)}
	case *bool:
		return []any{true, false}
	case *time.Duration: // OperationTimeouts: negative means no deadline
		return []any{time.Duration(math.MinInt64), -time.Nanosecond, time.Duration(0), time.Duration(math.MaxInt64)}
	case **zap.Logger:
		return []any{(*zap.Logger)(nil), zap.NewNop()}
	}
	return []any{nil} // another kind of field (an interface, a pointer): its zero value
}

// setField stores v in f's field of c; nil stores the zero value.
func setField(c *Config, f *configField, v any) {
	field := reflect.ValueOf(f.ptr(c)).Elem()
	if v == nil {
		field.Set(reflect.Zero(field.Type()))
		return
	}
	field.Set(reflect.ValueOf(v))
}

// TestValidateEveryField goes through configFields, so a field added later
// is covered too: each invalid value of a field with a rule gives exactly
// one *ConfigError naming the field and the value, and makes db.Use fail
// installing nothing; every value of a field without a rule is accepted.
func TestValidateEveryField(t *testing.T) {
	db := testdb.Open(t, testdb.SQLite) // nothing is ever installed: one db will do
	for i := range configFields {
		f := &configFields[i]
		bad := invalidValues(t, f)
		if f.rule == ruleAny {
			for _, v := range extremeValues(t, f) {
				c := DefaultConfig()
				setField(&c, f, v)
				if err := c.Validate(); err != nil {
					t.Errorf("%s = %v: Validate() = %v, want nil", f.field, v, err)
				}
			}
			continue
		}
		for _, v := range bad {
			t.Run(fmt.Sprintf("%s=%v", f.field, v), func(t *testing.T) {
				c := DefaultConfig()
				setField(&c, f, v)
				if f.when != nil && !f.when(&c) {
					c.Breaker.SlowCallThreshold = time.Second // the one condition there is
					if !f.when(&c) {
						t.Fatalf("%s: teach this test to meet its when-condition", f.field)
					}
				}
				err := c.Validate()
				if err == nil {
					t.Fatal("Validate() = nil")
				}
				errs := err.(interface{ Unwrap() []error }).Unwrap()
				var ce *ConfigError
				if len(errs) != 1 || !errors.As(errs[0], &ce) {
					t.Fatalf("Validate() = %v; want one *ConfigError", err)
				}
				if ce.Field != f.field || fmt.Sprint(ce.Value) != fmt.Sprint(v) || ce.Reason == "" {
					t.Errorf("ConfigError = %+v; want field %s, value %v", *ce, f.field, v)
				}
				if want := fmt.Sprintf("sessionplugin: Config.%s = %v: %s", f.field, v, ce.Reason); err.Error() != want {
					t.Errorf("message %q, want %q", err, want)
				}

				// db.Use reports the same error and installs nothing.
				p := New(c)
				defer p.Close()
				useErr := db.Use(p)
				var uce *ConfigError
				if !errors.As(useErr, &uce) || uce.Field != f.field {
					t.Errorf("db.Use = %v; want the *ConfigError for %s", useErr, f.field)
				}
				if _, ok := FromDB(db); ok || db.Callback().Query().Get("gormsession:before_query") != nil {
					t.Error("db.Use installed an invalid config")
				}
			})
		}
	}
}
