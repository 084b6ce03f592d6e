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
}

// ActiveScopes lists the scopes open now, oldest first. Safe to call
// concurrently; before Initialize it returns nil.
func (p *Plugin) ActiveScopes() []ScopeInfo {
	now := time.Now()
	var out []ScopeInfo
	for _, s := range p.reg.Active() {
		out = append(out, infoOf(s, now))
	}
	return out
}

func infoOf(s *scope.Scope, now time.Time) ScopeInfo {
	si := ScopeInfo{ID: s.ID, Operation: s.Op, Table: s.Table, Source: s.Source, Caller: s.Caller, Start: s.Start, Age: now.Sub(s.Start)}
	if s.Parent != nil {
		si.TxID = s.Parent.ID
	}
	return si
}
