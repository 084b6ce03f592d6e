package gormleak

import (
	"go/token"

	"golang.org/x/tools/go/ssa"
)

// swallowCheck walks forward from a statement in a transaction callback
// and finds the "return nil"s reachable on a path where the statement may
// have failed and its error was neither returned nor kept.
type swallowCheck struct {
	stmt ssa.Instruction
	errs map[ssa.Value]bool       // the statement's error, and copies of it
	kept map[ssa.Instruction]bool // stores the error where it outlives the callback
}

func newSwallowCheck(errs []ssa.Value, stmt ssa.Instruction) *swallowCheck {
	sc := &swallowCheck{stmt: stmt, errs: map[ssa.Value]bool{}, kept: map[ssa.Instruction]bool{}}
	boxed := map[ssa.Value]bool{}
	work := append([]ssa.Value(nil), errs...)
	for _, e := range errs {
		sc.errs[e] = true
	}
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
			case *ssa.Phi, *ssa.ChangeType:
				next = i.(ssa.Value)
			case *ssa.UnOp:
				if _, cell := v.(*ssa.Alloc); cell && i.Op == token.MUL {
					next = i
				}
			case *ssa.MakeInterface:
				if !boxed[i] {
					boxed[i] = true
					work = append(work, i)
				}
			case *ssa.Store:
				if i.Val != v {
					continue
				}
				if a, ok := i.Addr.(*ssa.Alloc); ok {
					next = a // err := ...; a local variable
				} else if !variadicArg(i.Addr) {
					sc.kept[i] = true // a field, a global, a slice append, *p
				}
			case *ssa.Send, *ssa.MapUpdate:
				sc.kept[instr] = true
			}
			if next != nil && !sc.errs[next] {
				sc.errs[next] = true
				work = append(work, next)
			}
		}
	}
	return sc
}

// variadicArg reports whether addr is an element of the array built for
// the variadic arguments of a call other than append (log.Print(err)).
func variadicArg(addr ssa.Value) bool {
	ia, ok := addr.(*ssa.IndexAddr)
	if !ok {
		return false
	}
	arr, ok := ia.X.(*ssa.Alloc)
	if !ok {
		return false
	}
	for _, r := range *arr.Referrers() {
		sl, ok := r.(*ssa.Slice)
		if !ok {
			continue
		}
		for _, u := range *sl.Referrers() {
			c, ok := u.(*ssa.Call)
			if !ok {
				continue
			}
			if b, ok := c.Call.Value.(*ssa.Builtin); ok && b.Name() == "append" {
				return false
			}
		}
	}
	return true
}

// run returns the "return nil"s reached from instruction from of block b
// with the statement's failure neither returned, kept, nor looked into.
func (sc *swallowCheck) run(b *ssa.BasicBlock, from int) []*ssa.Return {
	var bad []*ssa.Return
	walkPaths(b, from, func(instr ssa.Instruction) bool {
		if instr == sc.stmt || sc.kept[instr] {
			return true
		}
		if r, ok := instr.(*ssa.Return); ok {
			if n := len(r.Results); n > 0 && isNil(r.Results[n-1]) {
				bad = append(bad, r)
			}
			return true
		}
		return endsPath(instr)
	}, func(blk *ssa.BasicBlock) []*ssa.BasicBlock {
		follow := []int{0, 1}
		if ifi, ok := blk.Instrs[len(blk.Instrs)-1].(*ssa.If); ok {
			follow = sc.branches(ifi)
		}
		var out []*ssa.BasicBlock
		for _, i := range follow {
			if i < len(blk.Succs) {
				out = append(out, blk.Succs[i])
			}
		}
		return out
	})
	return bad
}

// branches returns the successors of ifi that a failed statement can take:
// only the err != nil side of a nil check of its error, none when the
// condition looks into the error otherwise (errors.Is(err, ...)), both
// when the condition does not involve it.
func (sc *swallowCheck) branches(ifi *ssa.If) []int {
	cond, neg := ifi.Cond, false
	for {
		u, ok := cond.(*ssa.UnOp)
		if !ok || u.Op != token.NOT {
			break
		}
		cond, neg = u.X, !neg
	}
	if c, ok := cond.(*ssa.BinOp); ok && (c.Op == token.EQL || c.Op == token.NEQ) {
		x := c.X
		if isNil(x) {
			x = c.Y
		} else if !isNil(c.Y) {
			x = nil
		}
		if x != nil && sc.errs[x] {
			failedIfTrue := (c.Op == token.NEQ) != neg
			if failedIfTrue {
				return []int{0}
			}
			return []int{1}
		}
	}
	if sc.dependsOnErr(ifi.Cond, map[ssa.Value]bool{}) {
		return nil // the error is inspected: what follows is deliberate
	}
	return []int{0, 1}
}

// dependsOnErr reports whether v is computed from the statement's error.
func (sc *swallowCheck) dependsOnErr(v ssa.Value, seen map[ssa.Value]bool) bool {
	if sc.errs[v] {
		return true
	}
	if seen[v] || len(seen) > 64 {
		return false
	}
	seen[v] = true
	var ops []*ssa.Value
	if instr, ok := v.(ssa.Instruction); ok {
		ops = instr.Operands(nil)
	}
	for _, op := range ops {
		if *op != nil && sc.dependsOnErr(*op, seen) {
			return true
		}
	}
	return false
}
