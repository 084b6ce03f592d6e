package gormleak

import (
	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/buildssa"
	"golang.org/x/tools/go/ssa"
)

// Analyzer reports GORM transactions that are not ended on every path,
// rows that are not closed on every path, and Transaction callbacks that
// drop a statement's error and return nil. See the package documentation.
var Analyzer = &analysis.Analyzer{
	Name:     "gormleak",
	Doc:      doc,
	Requires: []*analysis.Analyzer{buildssa.Analyzer},
	Run:      run,
}

const doc = `report leaked GORM transactions and rows, and Transaction callbacks that swallow errors

gormleak finds, in each function:
  - a *gorm.DB from Begin() that some path returns from without Commit or Rollback;
  - *sql.Rows from (*gorm.DB).Rows or database/sql Query/QueryContext that some path
    returns from without Close;
  - a callback given to (*gorm.DB).Transaction or sessionplugin.Transaction that drops
    a statement's error and then returns nil, committing half-done work.
A value that is returned, stored, or passed to another function is the receiver's job.
A //gormleak:ignore comment on the reported line or the line above silences a report.`

func run(pass *analysis.Pass) (any, error) {
	s := pass.ResultOf[buildssa.Analyzer].(*buildssa.SSA)
	for _, fn := range s.SrcFuncs {
		for _, b := range fn.Blocks {
			for i, instr := range b.Instrs {
				call, ok := instr.(*ssa.Call)
				if !ok {
					continue
				}
				if k, what, ok := creation(call); ok {
					checkResource(pass, fn, b, i, call, k, what)
				}
			}
		}
	}
	checkCallbacks(pass, s)
	return nil, nil
}
