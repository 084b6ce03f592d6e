package gormleak

import (
	"go/token"
	"strings"

	"golang.org/x/tools/go/ssa"
)

// event is what one instruction does to a tracked resource.
type event int

const (
	evClose   event = iota + 1 // releases it: Commit, Rollback, Close, or defers one
	evHandOff                  // hands it on: returned, stored, passed, sent, captured by an escaping closure
)

// valKind says how an SSA value relates to the tracked resource.
type valKind int

const (
	vRes         valKind = iota // the resource, or a gorm chain result of it
	vDerived                    // read from it: tx.Statement, its ConnPool, a type assertion of that
	vCell                       // a local variable's cell holding the resource
	vDerivedCell                // a local variable's cell holding a derived value
)

// maxDepth bounds how deep closures within closures are followed.
const maxDepth = 4

// tracker follows one resource through the values of one function and
// records, per instruction, whether it releases or hands on the resource.
type tracker struct {
	kind   resKind
	vals   map[ssa.Value]valKind
	events map[ssa.Instruction]event
	work   []ssa.Value
	carry  map[ssa.Value]bool // derived values that carry the transaction: tx.Statement, its ConnPool
	depth  int
	sums   map[*ssa.MakeClosure]closureSummary
}

// track follows seeds (values of one function) to every instruction that
// releases or hands on the resource.
func track(k resKind, seeds map[ssa.Value]valKind, carry map[ssa.Value]bool, depth int) *tracker {
	t := &tracker{
		kind:   k,
		vals:   map[ssa.Value]valKind{},
		events: map[ssa.Instruction]event{},
		carry:  map[ssa.Value]bool{},
		depth:  depth,
		sums:   map[*ssa.MakeClosure]closureSummary{},
	}
	for v, vk := range seeds {
		t.carry[v] = carry[v]
		t.add(v, vk)
	}
	for len(t.work) > 0 {
		v := t.work[len(t.work)-1]
		t.work = t.work[:len(t.work)-1]
		refs := v.Referrers()
		if refs == nil {
			continue
		}
		for _, instr := range *refs {
			switch vk := t.vals[v]; vk {
			case vRes:
				t.useRes(v, instr)
			case vDerived:
				t.useDerived(v, instr)
			default:
				t.useCell(v, vk, instr)
			}
		}
	}
	return t
}

func (t *tracker) add(v ssa.Value, vk valKind) {
	if _, ok := t.vals[v]; ok {
		return
	}
	t.vals[v] = vk
	t.work = append(t.work, v)
}

// addDerived tracks d, read from or stored from the derived value (or
// cell) from, as vk, and passes on whether it carries the transaction.
func (t *tracker) addDerived(from, d ssa.Value, vk valKind) {
	if t.carry[from] {
		t.carry[d] = true
	}
	t.add(d, vk)
}

func (t *tracker) mark(instr ssa.Instruction, e event) {
	if t.events[instr] < e {
		t.events[instr] = e
	}
}

// has reports whether any instruction has event e.
func (t *tracker) has(e event) bool {
	for _, got := range t.events {
		if got == e {
			return true
		}
	}
	return false
}

// useRes handles one use of the resource itself.
func (t *tracker) useRes(v ssa.Value, instr ssa.Instruction) {
	switch i := instr.(type) {
	case ssa.CallInstruction:
		c := i.Common()
		fn, _, recv := staticMethod(c)
		args := c.Args
		if fn != nil && recv != "" && len(args) > 0 && args[0] == v {
			args = args[1:]
			switch {
			case closeMethod(t.kind, fn.Name()):
				if _, isGo := i.(*ssa.Go); isGo {
					t.mark(i, evHandOff)
				} else {
					t.mark(i, evClose)
				}
			case t.kind == resTx && fn.Name() != "Begin":
				if call, ok := i.(*ssa.Call); ok && isGormDB(call.Type()) {
					t.add(call, vRes) // tx.Where(...) is the same transaction
				}
			}
		}
		for _, a := range args {
			if a == v && !(t.kind == resRows && isGormMethod(c, "ScanRows")) {
				t.mark(i, evHandOff)
			}
		}
		if c.Value == v {
			t.mark(i, evHandOff)
		}
	case *ssa.Store:
		if i.Val != v {
			return
		}
		if a, ok := i.Addr.(*ssa.Alloc); ok {
			t.add(a, vCell)
		} else {
			t.mark(i, evHandOff)
		}
	case *ssa.Phi, *ssa.ChangeType:
		t.add(i.(ssa.Value), vRes)
	case *ssa.FieldAddr, *ssa.Field:
		d := i.(ssa.Value)
		if t.kind == resTx && fieldOf(d) == "Statement" {
			t.carry[d] = true
		}
		t.add(d, vDerived)
	case *ssa.UnOp:
		if i.Op == token.MUL {
			t.add(i, vDerived)
		}
	case *ssa.MakeClosure:
		t.closure(i)
	case *ssa.BinOp, *ssa.If, *ssa.DebugRef:
	default: // Return, MakeInterface, Send, MapUpdate, Convert, ...
		t.mark(instr, evHandOff)
	}
}

// useDerived handles one use of a value read from a transaction. Only
// values that can end the transaction themselves (they have Commit and
// Rollback) or carry it (tx.Statement, tx.Statement.ConnPool) are followed
// out of the function.
func (t *tracker) useDerived(v ssa.Value, instr ssa.Instruction) {
	closer := isCloser(v.Type()) || t.carry[v]
	switch i := instr.(type) {
	case *ssa.FieldAddr, *ssa.Field:
		d := i.(ssa.Value)
		if t.carry[v] && fieldOf(d) == "ConnPool" {
			t.carry[d] = true
		}
		t.add(d, vDerived)
	case *ssa.TypeAssert, *ssa.ChangeType, *ssa.Phi:
		t.addDerived(v, i.(ssa.Value), vDerived)
	case *ssa.UnOp:
		if i.Op == token.MUL {
			t.addDerived(v, i, vDerived)
		}
	case *ssa.Extract:
		if i.Index == 0 {
			t.addDerived(v, i, vDerived) // the value of v, ok := x.(T)
		}
	case ssa.CallInstruction:
		c := i.Common()
		var name string
		recvIsV := false
		if c.IsInvoke() && c.Value == v {
			name, recvIsV = c.Method.Name(), true
		} else if fn, _, recv := staticMethod(c); fn != nil && recv != "" && len(c.Args) > 0 && c.Args[0] == v {
			name, recvIsV = fn.Name(), true
		}
		if recvIsV && closeMethod(resTx, name) {
			t.mark(i, evClose)
			return
		}
		if closer && !recvIsV {
			t.mark(i, evHandOff)
		}
	case *ssa.Store:
		if i.Val != v || !closer {
			return
		}
		if a, ok := i.Addr.(*ssa.Alloc); ok {
			t.addDerived(v, a, vDerivedCell)
		} else {
			t.mark(i, evHandOff)
		}
	case *ssa.MakeClosure:
		if closer {
			t.closure(i)
		}
	case *ssa.Return, *ssa.MakeInterface, *ssa.Send, *ssa.MapUpdate:
		if closer {
			t.mark(i, evHandOff)
		}
	}
}

// useCell handles one use of a local variable's cell that holds the
// resource or a value derived from it.
func (t *tracker) useCell(v ssa.Value, vk valKind, instr ssa.Instruction) {
	switch i := instr.(type) {
	case *ssa.UnOp:
		if i.Op == token.MUL && i.X == v {
			if vk == vCell {
				t.add(i, vRes)
			} else {
				t.addDerived(v, i, vDerived)
			}
			return
		}
		t.mark(i, evHandOff)
	case *ssa.Store:
		if i.Val == v {
			t.mark(i, evHandOff) // the variable's address is stored
		}
	case *ssa.MakeClosure:
		t.closure(i)
	case *ssa.DebugRef:
	default: // &tx passed on, or a field of it taken
		t.mark(instr, evHandOff)
	}
}

// closureSummary says what a closure does with a resource it captures.
type closureSummary struct {
	closes  bool // releases it on some path
	always  bool // releases or hands it on on every path
	handsOn bool // hands it on
	guarded bool // calls recover and reads nothing else it captured: a panic-only cleanup
	unknown bool // too deep to follow
}

// closure records the events of the instructions that use a closure which
// captures the resource: calling or deferring it counts as what its body
// does; handing the closure on hands the resource on.
func (t *tracker) closure(mc *ssa.MakeClosure) {
	s, done := t.sums[mc]
	if done {
		return
	}
	s = t.summarize(mc)
	t.sums[mc] = s
	refs := mc.Referrers()
	if refs == nil {
		return
	}
	for _, instr := range *refs {
		switch i := instr.(type) {
		case *ssa.Call:
			if i.Call.Value != mc {
				t.mark(i, evHandOff)
			} else if s.handsOn || s.unknown {
				t.mark(i, evHandOff)
			} else if s.closes {
				t.mark(i, evClose)
			}
		case *ssa.Defer:
			switch {
			case i.Call.Value != mc || s.handsOn || s.unknown:
				t.mark(i, evHandOff)
			case s.closes && !s.guarded:
				t.mark(i, evClose)
			}
		case *ssa.DebugRef:
		default: // go f(), passed on, stored, returned
			t.mark(instr, evHandOff)
		}
	}
}

// summarize follows the resource into the body of a closure.
func (t *tracker) summarize(mc *ssa.MakeClosure) closureSummary {
	fn, ok := mc.Fn.(*ssa.Function)
	if !ok {
		return closureSummary{unknown: true}
	}
	if strings.HasSuffix(fn.Name(), "$bound") {
		// tx.Rollback as a method value: calling it releases.
		closes := closeMethod(t.kind, fn.Object().Name())
		return closureSummary{closes: closes, always: closes}
	}
	if t.depth >= maxDepth || len(fn.FreeVars) != len(mc.Bindings) {
		return closureSummary{unknown: true}
	}
	seeds := map[ssa.Value]valKind{}
	carry := map[ssa.Value]bool{}
	for i, b := range mc.Bindings {
		if vk, ok := t.vals[b]; ok {
			seeds[fn.FreeVars[i]] = vk
			carry[fn.FreeVars[i]] = t.carry[b]
		}
	}
	sub := track(t.kind, seeds, carry, t.depth+1)
	s := closureSummary{
		closes:  sub.has(evClose),
		handsOn: sub.has(evHandOff),
	}
	if len(fn.Blocks) > 0 {
		pc := &pathCheck{events: sub.events, prune: sub.prune(nil)}
		rets, _ := pc.run(fn.Blocks[0], 0, nil)
		s.always = len(rets) == 0
	}
	recovers := false
	for _, b := range fn.Blocks {
		for _, instr := range b.Instrs {
			if isRecover(instr) {
				recovers = true
			}
		}
	}
	// A conditional release under recover() that reads nothing else
	// (defer func() { if r := recover(); r != nil { tx.Rollback() } }())
	// covers panics only. A condition on other captured state (a named
	// err result, a committed flag) is trusted to cover the normal returns.
	s.guarded = !s.always && recovers && len(fn.FreeVars) == len(seeds)
	return s
}
