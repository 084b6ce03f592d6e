package sessionplugin

import (
	"errors"
	"fmt"
	"time"
)

// Validate reports every problem with c at once, or nil when c is usable.
//
// The rules:
//   - PoolSize must be at least 1, MaxOverflow at least 0;
//   - every duration must be >= 0, where 0 turns its feature off or, in
//     Breaker, means the default; the exception is OperationTimeouts, whose
//     fields may be negative, meaning "no deadline" for that kind of
//     statement (0 means "use QueryTimeout");
//   - Breaker.FailureRatio and Breaker.SlowCallRate must be in (0, 1], or 0
//     for the default; SlowCallRate is checked only when
//     Breaker.SlowCallThreshold > 0, since it is unused otherwise;
//   - the other Breaker numbers are unsigned, and 0 means the default.
//
// Logger is not checked: nil means zap.NewNop(). Only hard errors are
// reported; an odd but workable mix, such as PoolTimeout longer than
// TransactionTimeout, is allowed.
//
// The error, if any, is an errors.Join of one *ConfigError per bad field,
// in Config field order; find them with errors.As. A zero Config fails on
// PoolSize only; start from DefaultConfig or ConfigFromEnv instead.
func (c Config) Validate() error {
	var errs []error
	for i := range configFields {
		f := &configFields[i]
		if f.rule == ruleAny || (f.when != nil && !f.when(&c)) {
			continue
		}
		v := fieldValue(f.ptr(&c))
		if reason := f.rule.check(v); reason != "" {
			errs = append(errs, &ConfigError{Field: f.field, Value: v, Reason: reason})
		}
	}
	return errors.Join(errs...)
}

// ConfigError is one invalid Config field, as reported by Config.Validate.
// Match it with errors.As and a *ConfigError target.
type ConfigError struct {
	// Field is the field's path below Config, e.g. "PoolSize" or
	// "Breaker.FailureRatio".
	Field string
	// Value is the field's value, e.g. int(0) or time.Duration(-3e9).
	Value any
	// Reason says what is wrong, e.g. "must be at least 1".
	Reason string
}

// Error returns "sessionplugin: Config.<Field> = <Value>: <Reason>", e.g.
// "sessionplugin: Config.PoolSize = 0: must be at least 1".
func (e *ConfigError) Error() string {
	name := "Config"
	if e.Field != "" {
		name += "." + e.Field
	}
	return fmt.Sprintf("sessionplugin: %s = %v: %s", name, e.Value, e.Reason)
}

// fieldRule is what values of a field are valid; see Validate.
type fieldRule uint8

const (
	ruleAny         fieldRule = iota // every value
	ruleNonNegative                  // >= 0
	ruleAtLeastOne                   // >= 1
	ruleRatio                        // 0 (the default) or in (0, 1]
)

// check returns "" when v is valid under r, otherwise the reason it is not.
// v is the field's value: an int, uint32, float64, bool or time.Duration.
func (r fieldRule) check(v any) string {
	var x float64
	switch v := v.(type) {
	case int:
		x = float64(v)
	case uint32:
		x = float64(v)
	case float64:
		x = v
	case time.Duration:
		x = float64(v)
	default:
		return ""
	}
	switch r {
	case ruleNonNegative:
		if x < 0 {
			return "must not be negative"
		}
	case ruleAtLeastOne:
		if x < 1 {
			return "must be at least 1"
		}
	case ruleRatio:
		if x != 0 && !(x > 0 && x <= 1) { // also rejects NaN
			return "must be in (0, 1], or 0 for the default"
		}
	}
	return ""
}

// fieldValue dereferences a pointer returned by configField.ptr.
func fieldValue(p any) any {
	switch p := p.(type) {
	case *int:
		return *p
	case *uint32:
		return *p
	case *float64:
		return *p
	case *bool:
		return *p
	case *time.Duration:
		return *p
	}
	return nil
}
