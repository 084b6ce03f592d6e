package breaker

import "go.uber.org/zap/zapcore"

// Counts are the numbers of one Breaker's current window: since the last
// state change, or in the closed state since the current Interval began.
type Counts struct {
	// Requests is the number of statements admitted.
	Requests uint32
	// Successes is the number of statements the database answered, with
	// or without an error (a duplicate key is a success here).
	Successes uint32
	// Failures is the number of infrastructure failures (connection,
	// timeout, pool_exhausted).
	Failures uint32
	// Excluded is the number of statements that ended by the caller's own
	// cancel or deadline, and so count neither way.
	Excluded uint32
	// ConsecutiveFailures is the number of failures since the last success.
	ConsecutiveFailures uint32
	// Slow is the number of successes slower than SlowCallThreshold.
	Slow uint32
	// Rejected is the number of statements refused (in ModeMetricsOnly:
	// the number that would have been refused).
	Rejected uint32
}

// MarshalLogObject writes c as a zap object, so zap.Object("counts", c)
// logs every field.
func (c Counts) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddUint32("requests", c.Requests)
	enc.AddUint32("successes", c.Successes)
	enc.AddUint32("failures", c.Failures)
	enc.AddUint32("excluded", c.Excluded)
	enc.AddUint32("consecutive_failures", c.ConsecutiveFailures)
	enc.AddUint32("slow", c.Slow)
	enc.AddUint32("rejected", c.Rejected)
	return nil
}
