package gormleak

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/ssa"
)

// checkResource reports the transaction or rows handed out by call (the
// idx-th instruction of block b) when some path returns, or comes back to
// call in a loop, without releasing or handing them on.
func checkResource(pass *analysis.Pass, fn *ssa.Function, b *ssa.BasicBlock, idx int, call *ssa.Call, k resKind, what string) {
	seeds := map[ssa.Value]valKind{}
	var fails map[ssa.Value]bool
	var extra []ssa.Instruction // uses of the result tuple that are not an Extract
	switch k {
	case resTx:
		seeds[call] = vRes
		fails = txFails(call) // tx.Error != nil: BEGIN failed, nothing to end
	case resRows:
		fails = map[ssa.Value]bool{}
		for _, instr := range *call.Referrers() {
			switch e := instr.(type) {
			case *ssa.Extract:
				if e.Index == 0 {
					seeds[e] = vRes
				} else {
					for f := range errFails(e) {
						fails[f] = true // err != nil: no rows
					}
				}
			case *ssa.DebugRef:
			default:
				extra = append(extra, instr)
			}
		}
	}
	t := track(k, seeds, nil, 0)
	for _, instr := range extra {
		t.mark(instr, evHandOff)
	}
	pc := &pathCheck{events: t.events, prune: t.prune(fails)}
	leaks, reloop := pc.run(b, idx+1, call)
	if len(leaks) == 0 && !reloop {
		return
	}
	lines := returnLines(pass, fn, leaks)
	var msg string
	switch {
	case k == resTx && reloop:
		msg = "transaction begun here is not committed or rolled back before the loop begins the next one; " + useTransaction
	case k == resTx:
		msg = fmt.Sprintf("transaction begun here is not committed or rolled back when returning at %s; %s", lines, useTransaction)
	case reloop:
		msg = fmt.Sprintf("rows from %s are not closed before the loop runs %s again: close them at the end of each iteration, or move the loop body into a function that defers rows.Close()", what, what)
	default:
		msg = fmt.Sprintf("rows from %s are never closed on the path returning at %s: add defer rows.Close() right after the error check", what, lines)
	}
	report(pass, call.Pos(), categoryOf(k), msg)
}

const useTransaction = "use sessionplugin.Transaction(ctx, db, func(tx *gorm.DB) error { ... }), " +
	"which commits on nil and rolls back on error or panic"

func categoryOf(k resKind) string {
	if k == resTx {
		return "tx"
	}
	return "rows"
}

// returnLines names the lines of rets: "line 42" or "lines 42, 57". An
// implicit return at the end of the function is its closing brace.
func returnLines(pass *analysis.Pass, fn *ssa.Function, rets []*ssa.Return) string {
	seen := map[int]bool{}
	var nums []int
	for _, r := range rets {
		pos := r.Pos()
		if !pos.IsValid() && fn.Syntax() != nil {
			pos = fn.Syntax().End() - 1
		}
		if !pos.IsValid() {
			continue
		}
		n := pass.Fset.Position(pos).Line
		if !seen[n] {
			seen[n] = true
			nums = append(nums, n)
		}
	}
	if len(nums) == 0 {
		return ""
	}
	sort.Ints(nums)
	strs := make([]string, len(nums))
	for i, n := range nums {
		strs[i] = strconv.Itoa(n)
	}
	if len(strs) == 1 {
		return "line " + strs[0]
	}
	return "lines " + strings.Join(strs, ", ")
}
