package gormleak

import (
	"go/token"

	"golang.org/x/tools/go/ssa"
)

// The failure flags of a creating call are the values that, when non-nil,
// say it handed out nothing: Begin's tx.Error, the error result of Rows or
// Query. A variable captured by a closure lives in a cell, so the flag is
// then a load of that cell.

// txFails returns the loads of tx.Error for the value Begin returned,
// directly or through a variable's cell that only ever holds it.
func txFails(call *ssa.Call) map[ssa.Value]bool {
	fails := map[ssa.Value]bool{}
	for _, l := range errorLoads(call) {
		fails[l] = true
	}
	for _, a := range storedCells(call) {
		if !onlyHolds(a, call) {
			continue
		}
		for _, r := range *a.Referrers() {
			if u, ok := r.(*ssa.UnOp); ok && u.Op == token.MUL && u.X == a {
				for _, l := range errorLoads(u) {
					fails[l] = true
				}
			}
		}
	}
	return fails
}

// errFails returns err and, where err is stored in a variable's cell, the
// loads of that cell that follow the store in the same block with no other
// store between: the "if err != nil" right after the call.
func errFails(err ssa.Value) map[ssa.Value]bool {
	fails := map[ssa.Value]bool{err: true}
	for _, r := range *err.Referrers() {
		st, ok := r.(*ssa.Store)
		if !ok || st.Val != err {
			continue
		}
		a, ok := st.Addr.(*ssa.Alloc)
		if !ok {
			continue
		}
		after := false
		for _, instr := range st.Block().Instrs {
			if instr == st {
				after = true
				continue
			}
			if !after {
				continue
			}
			if s, ok := instr.(*ssa.Store); ok && s.Addr == a {
				break
			}
			if u, ok := instr.(*ssa.UnOp); ok && u.Op == token.MUL && u.X == a {
				fails[u] = true
			}
		}
	}
	return fails
}

// storedCells returns the local variable cells v is stored into.
func storedCells(v ssa.Value) []*ssa.Alloc {
	var out []*ssa.Alloc
	for _, r := range *v.Referrers() {
		if st, ok := r.(*ssa.Store); ok && st.Val == v {
			if a, ok := st.Addr.(*ssa.Alloc); ok {
				out = append(out, a)
			}
		}
	}
	return out
}

// onlyHolds reports whether every store into cell a stores v.
func onlyHolds(a *ssa.Alloc, v ssa.Value) bool {
	for _, r := range *a.Referrers() {
		if st, ok := r.(*ssa.Store); ok && st.Addr == a && st.Val != v {
			return false
		}
	}
	return true
}
