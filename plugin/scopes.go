package sessionplugin

import (
	"time"

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
}

// ActiveScopes lists the scopes open now, oldest first. Safe to call
// concurrently; before Initialize it returns nil.
func (p *Plugin) ActiveScopes() []ScopeInfo {
	now := time.Now()
	var out []ScopeInfo
	for _, s := range p.reg.Active() {
		out = append(out, p.infoOf(s, now))
	}
	return out
}

func (p *Plugin) infoOf(s *scope.Scope, now time.Time) ScopeInfo {
	si := ScopeInfo{ID: s.ID, Operation: s.Op, Table: s.Table, Source: s.Source, Caller: s.Caller, Start: s.Start, Age: now.Sub(s.Start)}
	if s.Parent != nil {
		si.TxID = s.Parent.ID
	}
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
