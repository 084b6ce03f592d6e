package breaker

import (
	"time"

	"go.uber.org/zap"
)

// Mode returns the Breaker's current Mode.
func (b *Breaker) Mode() Mode {
	if b == nil {
		return ModeNormal
	}
	return Mode(b.mode.Load())
}

// SetMode switches the Breaker to m at once; statements already admitted
// finish as admitted (in ModeDisabled their outcome is not counted). A
// change of the reported State (to or from StateForcedOpen) is logged and
// handed to the hook like any other. A Mode outside the four constants is
// logged as an error and ignored.
func (b *Breaker) SetMode(m Mode) {
	if b == nil {
		return
	}
	if !m.valid() {
		b.logger.Error("circuit breaker: unknown mode ignored", zap.String("source", b.name), zap.Stringer("mode", m))
		return
	}
	before := b.State()
	old := Mode(b.mode.Swap(uint32(m)))
	if old == m {
		return
	}
	after := b.State()
	if before == after {
		b.logger.Info("circuit breaker mode changed", zap.String("source", b.name),
			zap.Stringer("state", after), zap.Stringer("from_mode", old), zap.Stringer("to_mode", m))
		return
	}
	b.record(event{from: before, to: after, counts: b.Counts(), mode: m, prevMode: old, cause: "mode"}, time.Now())
	b.flush()
}

// Reset puts a fresh closed breaker (new gobreaker instance, zero counts)
// in place of the current one, atomically. The Mode stays. Outcomes of
// statements admitted before Reset are ignored. If the reported State
// changes, the change is logged and handed to the hook.
func (b *Breaker) Reset() {
	if b == nil {
		return
	}
	before, counts := b.State(), b.Counts()
	now := time.Now()
	b.eng.Store(newEngine(b, now))
	after := b.State()
	if before == after {
		b.logger.Info("circuit breaker reset", zap.String("source", b.name),
			zap.Stringer("state", after), zap.Object("counts", counts))
		return
	}
	b.record(event{from: before, to: after, counts: counts, mode: b.Mode(), cause: "reset"}, now)
	b.flush()
}
