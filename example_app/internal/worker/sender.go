package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Message is one email handed to a Sender.
type Message struct {
	EmailID    uint64 // unique per email: a real provider's idempotency key
	CampaignID uint64
	To, Name   string
	Subject    string
	Body       string
}

// Sender delivers one message. An error wrapped with Temporary is retried
// later; any other error fails the email for good.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// TemporaryError is a send failure worth retrying later (a 4xx SMTP reply,
// a provider's rate limit, a network error).
type TemporaryError struct{ Err error }

func (e *TemporaryError) Error() string { return "temporary: " + e.Err.Error() }
func (e *TemporaryError) Unwrap() error { return e.Err }

// Temporary marks err as worth retrying. Temporary(nil) is nil.
func Temporary(err error) error {
	if err == nil {
		return nil
	}
	return &TemporaryError{Err: err}
}

// IsTemporary reports whether err was marked with Temporary.
func IsTemporary(err error) bool {
	var t *TemporaryError
	return errors.As(err, &t)
}

// LogSender "sends" by logging one line per email, and appends each sent
// email's id to Record when it is set (the end-to-end test reads it to prove
// no email went out twice). Delay simulates the time a send takes; with
// FailEvery > 0 every FailEvery-th call fails temporarily, to watch retries.
type LogSender struct {
	Log       *zap.Logger
	Record    io.Writer
	Delay     time.Duration
	FailEvery int

	calls atomic.Int64
	mu    sync.Mutex // serializes writes to Record
}

// Send implements Sender.
func (s *LogSender) Send(ctx context.Context, m Message) error {
	n := s.calls.Add(1)
	if s.Delay > 0 {
		t := time.NewTimer(s.Delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return Temporary(ctx.Err())
		}
	}
	if s.FailEvery > 0 && n%int64(s.FailEvery) == 0 {
		return Temporary(fmt.Errorf("simulated provider failure (call %d, SENDER_FAIL_EVERY=%d)", n, s.FailEvery))
	}
	if s.Record != nil {
		s.mu.Lock()
		_, err := fmt.Fprintf(s.Record, "%d\n", m.EmailID)
		s.mu.Unlock()
		if err != nil {
			return Temporary(fmt.Errorf("record sent email: %w", err))
		}
	}
	if s.Log != nil {
		s.Log.Info("email sent", zap.Uint64("email_id", m.EmailID), zap.Uint64("campaign_id", m.CampaignID),
			zap.String("to_domain", domain(m.To)), zap.String("subject", m.Subject))
	}
	return nil
}

// domain keeps addresses (personal data) out of the log.
func domain(addr string) string {
	_, d, ok := strings.Cut(addr, "@")
	if !ok {
		return "?"
	}
	return d
}
