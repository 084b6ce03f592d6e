package sessionplugin

import (
	"fmt"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/replyrocket/gormsession/callbacks"
	"github.com/replyrocket/gormsession/internal/scope"
)

// ScopeInfo describes one open scope: a statement or a transaction.
type ScopeInfo struct {
	ID        uint64
	Operation string // query, create, update, delete, row, raw, transaction
	Table     string
	Source    string // "primary", or a dbresolver source's name
	Caller    string // file:line that opened it
	Start     time.Time
	Age       time.Duration
	TxID      uint64 // for a statement inside a transaction: the transaction's ID
	// LongRunning: open longer than Config.LongRunningThreshold.
	LongRunning bool
	// IdleInTx: a transaction with no statement running for longer than
	// Config.IdleInTxThreshold; LastStatement is where its last one ran.
	IdleInTx      bool
	LastStatement string
	// Fields are the fields WithLogFields put in the context the scope was
	// opened under (a route, a request id), as strings; nil if none.
	Fields map[string]string
}

// ActiveScopes lists the scopes open now, oldest first. Safe to call
// concurrently; before Initialize it returns nil.
func (p *Plugin) ActiveScopes() []ScopeInfo {
	now := time.Now()
	active := p.reg.Active()
	if len(active) == 0 {
		return nil
	}
	out := make([]ScopeInfo, 0, len(active))
	for _, s := range active {
		out = append(out, p.infoOf(s, now))
	}
	return out
}

func (p *Plugin) infoOf(s *scope.Scope, now time.Time) ScopeInfo {
	si := ScopeInfo{ID: s.ID, Operation: s.Op, Table: s.Table, Source: s.Source, Caller: s.Caller, Start: s.Start, Age: now.Sub(s.Start)}
	if s.Parent != nil {
		si.TxID = s.Parent.ID
	}
	si.Fields = fieldStrings(callbacks.LogFields(s.Ctx))
	if t := p.cfg.LongRunningThreshold; t > 0 && si.Age > t {
		si.LongRunning = true
	}
	if s.Kind == scope.Transaction {
		if idle, since, last := s.Idle(); idle {
			si.LastStatement = last
			if t := p.cfg.IdleInTxThreshold; t > 0 && now.Sub(since) > t {
				si.IdleInTx = true
			}
		}
	}
	return si
}

// fieldStrings renders zap fields as strings, keyed by field name; nil for
// none.
func fieldStrings(fields []zap.Field) map[string]string {
	if len(fields) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	out := make(map[string]string, len(enc.Fields))
	for k, v := range enc.Fields {
		out[k] = fmt.Sprint(v)
	}
	return out
}
