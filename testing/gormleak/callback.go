package gormleak

import (
	"fmt"
	"go/token"
	"go/types"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/buildssa"
	"golang.org/x/tools/go/ssa"
)

// checkCallbacks finds the callbacks given to (*gorm.DB).Transaction and
// sessionplugin.Transaction and checks each once.
func checkCallbacks(pass *analysis.Pass, s *buildssa.SSA) {
	done := map[*ssa.Function]bool{}
	for _, fn := range s.SrcFuncs {
		for _, b := range fn.Blocks {
			for _, instr := range b.Instrs {
				ci, ok := instr.(ssa.CallInstruction)
				if !ok {
					continue
				}
				cb, tx := callbackOf(s.Pkg, ci.Common())
				if cb == nil || done[cb] {
					continue
				}
				done[cb] = true
				checkCallback(pass, cb, tx)
			}
		}
	}
}

// callbackOf returns the function c passes as a transaction callback, and
// its *gorm.DB parameter, when that function is in pkg.
func callbackOf(pkg *ssa.Package, c *ssa.CallCommon) (*ssa.Function, *ssa.Parameter) {
	var arg ssa.Value
	fn, path, recv := staticMethod(c)
	switch {
	case fn == nil:
		return nil, nil
	case path == gormPath && recv == "DB" && fn.Name() == "Transaction" && len(c.Args) >= 2:
		arg = c.Args[1]
	case path == pluginPath && recv == "" && fn.Name() == "Transaction" && len(c.Args) >= 3:
		arg = c.Args[2]
	default:
		return nil, nil
	}
	var cb *ssa.Function
	switch v := arg.(type) {
	case *ssa.Function:
		cb = v
	case *ssa.MakeClosure:
		cb, _ = v.Fn.(*ssa.Function)
		if cb != nil && strings.HasSuffix(cb.Name(), "$bound") {
			m, _ := cb.Object().(*types.Func)
			cb = nil
			if m != nil {
				cb = pkg.Prog.FuncValue(m) // s.work: check the method itself
			}
		}
	}
	if cb == nil || cb.Pkg != pkg || len(cb.Blocks) == 0 || len(cb.Params) == 0 {
		return nil, nil
	}
	tx := cb.Params[len(cb.Params)-1]
	if !isGormDB(tx.Type()) {
		return nil, nil
	}
	return cb, tx
}

// checkCallback reports each statement on tx whose failure cb can drop on
// the way to a "return nil".
func checkCallback(pass *analysis.Pass, cb *ssa.Function, tx *ssa.Parameter) {
	res := cb.Signature.Results()
	if res.Len() == 0 || !types.Identical(res.At(res.Len()-1).Type(), types.Universe.Lookup("error").Type()) {
		return
	}
	for _, st := range statementsOn(tx) {
		errs, ok := errorUses(st)
		if !ok {
			continue // the result is handed on or chained: the error travels with it
		}
		b, idx := st.Block(), indexOf(st)
		if b == nil || idx < 0 {
			continue
		}
		sc := newSwallowCheck(errs, st)
		rets := sc.run(b, idx+1)
		if len(rets) == 0 {
			continue
		}
		name := gormMethod(st.Common())
		at := returnLines(pass, cb, rets)
		var msg string
		if len(errs) == 0 {
			msg = fmt.Sprintf("result of %s is never checked and the transaction callback returns nil at %s, so the transaction commits half-done work: check .Error and return it", name, at)
		} else {
			msg = fmt.Sprintf("statement error is dropped and the transaction callback returns nil at %s, so the transaction commits half-done work: return the error", at)
		}
		report(pass, st.Pos(), "callback", msg)
	}
}

// statementsOn returns the calls that run a statement on tx or on a gorm
// chain built from it (tx.Where(...).Find(...)).
func statementsOn(tx ssa.Value) []*ssa.Call {
	aliases := map[ssa.Value]bool{tx: true}
	work := []ssa.Value{tx}
	var out []*ssa.Call
	for len(work) > 0 {
		v := work[len(work)-1]
		work = work[:len(work)-1]
		refs := v.Referrers()
		if refs == nil {
			continue
		}
		for _, instr := range *refs {
			var next ssa.Value
			switch i := instr.(type) {
			case *ssa.Call:
				name := gormMethod(i.Common())
				if name == "" || len(i.Call.Args) == 0 || i.Call.Args[0] != v || !isGormDB(i.Type()) {
					continue
				}
				if finishers[name] {
					out = append(out, i)
				}
				if name != "Begin" && name != "Commit" && name != "Rollback" {
					next = i
				}
			case *ssa.Phi, *ssa.ChangeType:
				next = i.(ssa.Value)
			case *ssa.Store:
				if a, ok := i.Addr.(*ssa.Alloc); ok && i.Val == v {
					next = a
				}
			case *ssa.UnOp:
				if _, ok := v.(*ssa.Alloc); ok && i.Op == token.MUL {
					next = i
				}
			}
			if next != nil && !aliases[next] {
				aliases[next] = true
				work = append(work, next)
			}
		}
	}
	return out
}

// errorUses returns the loads of st.Error. ok is false when the result is
// used other than by reading its fields.
func errorUses(st *ssa.Call) (errs []ssa.Value, ok bool) {
	for _, instr := range *st.Referrers() {
		switch instr.(type) {
		case *ssa.FieldAddr, *ssa.DebugRef:
		default:
			return nil, false
		}
	}
	return errorLoads(st), true
}

// indexOf returns the index of instr in its block.
func indexOf(instr ssa.Instruction) int {
	for i, x := range instr.Block().Instrs {
		if x == instr {
			return i
		}
	}
	return -1
}
