package gormleak

import "golang.org/x/tools/go/ssa"

// walkPaths visits, depth first, the instructions reachable from
// instruction from of block b; a block entered from its start is walked
// once. visit returns true to end the path at that instruction. When a
// block's path does not end in it, next gives the successors to follow.
func walkPaths(b *ssa.BasicBlock, from int, visit func(ssa.Instruction) (stop bool), next func(*ssa.BasicBlock) []*ssa.BasicBlock) {
	visited := map[*ssa.BasicBlock]bool{}
	type item struct {
		b    *ssa.BasicBlock
		from int
	}
	stack := []item{{b, from}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if it.from == 0 {
			if visited[it.b] {
				continue
			}
			visited[it.b] = true
		}
		stopped := false
		for _, instr := range it.b.Instrs[it.from:] {
			if stopped = visit(instr); stopped {
				break
			}
		}
		if stopped {
			continue
		}
		for _, s := range next(it.b) {
			stack = append(stack, item{s, 0})
		}
	}
}

// endsPath reports whether instr ends every path through it: a panic, or
// a call that never returns.
func endsPath(instr ssa.Instruction) bool {
	if _, ok := instr.(*ssa.Panic); ok {
		return true
	}
	return exits(instr)
}
