package gormleak

import (
	"go/token"
	"go/types"

	"golang.org/x/tools/go/ssa"
)

// pathCheck walks the control-flow graph forward from a point and finds
// the returns reached without passing an instruction that releases or
// hands on the resource.
type pathCheck struct {
	events map[ssa.Instruction]event
	// prune returns the index of the successor of an If that cannot hold
	// the resource (the branch where Begin or Rows failed), or -1.
	prune func(*ssa.If) int
}

// run walks from instruction from of block b. It returns the returns
// reached with the resource still held, and whether the path came back to
// again (the creating call, in a loop) with the resource still held.
func (p *pathCheck) run(b *ssa.BasicBlock, from int, again ssa.Instruction) (leaks []*ssa.Return, reloop bool) {
	walkPaths(b, from, func(instr ssa.Instruction) bool {
		switch {
		case p.events[instr] != 0:
			return true
		case instr == again:
			reloop = true
			return true
		}
		if r, ok := instr.(*ssa.Return); ok {
			leaks = append(leaks, r)
			return true
		}
		return endsPath(instr)
	}, func(blk *ssa.BasicBlock) []*ssa.BasicBlock {
		skip := -1
		if ifi, ok := blk.Instrs[len(blk.Instrs)-1].(*ssa.If); ok && p.prune != nil {
			skip = p.prune(ifi)
		}
		var out []*ssa.BasicBlock
		for i, s := range blk.Succs {
			if i != skip {
				out = append(out, s)
			}
		}
		return out
	})
	return leaks, reloop
}

// prune returns the branch filter for the tracked values: a branch where
// one of them is nil, where a comma-ok assertion of a derived value to a
// committer failed, or where one of fails (Begin's tx.Error, the error
// result of Rows or Query) is non-nil holds no resource; neither does the
// branch where rows.Next() returned false, as database/sql closes the rows
// then.
func (t *tracker) prune(fails map[ssa.Value]bool) func(*ssa.If) int {
	return func(ifi *ssa.If) int {
		cond, neg := ifi.Cond, false
		for {
			u, ok := cond.(*ssa.UnOp)
			if !ok || u.Op != token.NOT {
				break
			}
			cond, neg = u.X, !neg
		}
		var goneIfTrue bool
		switch c := cond.(type) {
		case *ssa.BinOp:
			if c.Op != token.EQL && c.Op != token.NEQ {
				return -1
			}
			x := c.X
			if isNil(x) {
				x = c.Y
			} else if !isNil(c.Y) {
				return -1
			}
			switch vk, tracked := t.vals[x]; {
			case fails[x]:
				goneIfTrue = c.Op == token.NEQ
			case tracked && (vk == vRes || vk == vDerived && isCloser(x.Type())):
				goneIfTrue = c.Op == token.EQL
			default:
				return -1
			}
		case *ssa.Call:
			// for rows.Next() { ... }: when Next returns false, database/sql
			// has closed the rows (barring further result sets).
			fn, pkg, recv := staticMethod(c.Common())
			if t.kind != resRows || fn == nil || pkg != sqlPath || recv != "Rows" || fn.Name() != "Next" || len(c.Call.Args) == 0 {
				return -1
			}
			if vk, tracked := t.vals[c.Call.Args[0]]; !tracked || vk != vRes {
				return -1
			}
			goneIfTrue = false
		case *ssa.Extract:
			ta, ok := c.Tuple.(*ssa.TypeAssert)
			if !ok || c.Index != 1 || !ta.CommaOk || !isCloser(ta.AssertedType) {
				return -1
			}
			if _, tracked := t.vals[ta]; !tracked {
				return -1
			}
			goneIfTrue = false // x.(gorm.TxCommitter) failed: there is no transaction to end
		default:
			return -1
		}
		if neg {
			goneIfTrue = !goneIfTrue
		}
		if goneIfTrue {
			return 0
		}
		return 1
	}
}

// errorLoads returns the loads of v.Error, for a *gorm.DB value v.
func errorLoads(v ssa.Value) []ssa.Value {
	var out []ssa.Value
	refs := v.Referrers()
	if refs == nil {
		return nil
	}
	for _, instr := range *refs {
		fa, ok := instr.(*ssa.FieldAddr)
		if !ok || fa.X != v || fieldName(fa) != "Error" {
			continue
		}
		for _, r := range *fa.Referrers() {
			if u, ok := r.(*ssa.UnOp); ok && u.Op == token.MUL {
				out = append(out, u)
			}
		}
	}
	return out
}

// fieldOf returns the name of the struct field a FieldAddr or Field
// instruction selects, or "".
func fieldOf(v ssa.Value) string {
	switch f := v.(type) {
	case *ssa.FieldAddr:
		return fieldName(f)
	case *ssa.Field:
		if st, ok := f.X.Type().Underlying().(*types.Struct); ok && f.Field < st.NumFields() {
			return st.Field(f.Field).Name()
		}
	}
	return ""
}

// fieldName returns the name of the struct field fa addresses.
func fieldName(fa *ssa.FieldAddr) string {
	p, ok := fa.X.Type().Underlying().(*types.Pointer)
	if !ok {
		return ""
	}
	st, ok := p.Elem().Underlying().(*types.Struct)
	if !ok || fa.Field >= st.NumFields() {
		return ""
	}
	return st.Field(fa.Field).Name()
}
