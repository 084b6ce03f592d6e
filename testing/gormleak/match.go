package gormleak

import (
	"go/types"

	"golang.org/x/tools/go/ssa"
)

// Import paths the analyzer knows by name.
const (
	gormPath   = "gorm.io/gorm"
	sqlPath    = "database/sql"
	pluginPath = "github.com/replyrocket/gormsession/plugin"
)

// resKind is the kind of resource a creating call hands out.
type resKind int

const (
	resTx   resKind = iota // *gorm.DB from Begin
	resRows                // *sql.Rows from Rows, Query, QueryContext
)

// finishers are the *gorm.DB methods that run a statement and report its
// failure in the Error field of the *gorm.DB they return.
var finishers = map[string]bool{
	"Create": true, "CreateInBatches": true, "Save": true,
	"First": true, "Take": true, "Last": true, "Find": true, "FindInBatches": true,
	"FirstOrInit": true, "FirstOrCreate": true,
	"Update": true, "Updates": true, "UpdateColumn": true, "UpdateColumns": true,
	"Delete": true, "Count": true, "Scan": true, "Pluck": true, "Exec": true,
}

// staticMethod returns the method a call invokes statically, with the
// package path and receiver type name it is declared on.
func staticMethod(c *ssa.CallCommon) (fn *types.Func, pkg, recv string) {
	callee := c.StaticCallee()
	if callee == nil || c.IsInvoke() {
		return nil, "", ""
	}
	obj, ok := callee.Object().(*types.Func)
	if !ok || obj.Pkg() == nil {
		return nil, "", ""
	}
	sig := obj.Type().(*types.Signature)
	if sig.Recv() == nil {
		return obj, obj.Pkg().Path(), ""
	}
	t := sig.Recv().Type()
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	named, ok := types.Unalias(t).(*types.Named)
	if !ok {
		return obj, obj.Pkg().Path(), ""
	}
	return obj, obj.Pkg().Path(), named.Obj().Name()
}

// isGormMethod reports whether c calls (*gorm.DB).name.
func isGormMethod(c *ssa.CallCommon, name string) bool {
	fn, pkg, recv := staticMethod(c)
	return fn != nil && pkg == gormPath && recv == "DB" && fn.Name() == name
}

// gormMethod returns the name of the (*gorm.DB) method c calls, or "".
func gormMethod(c *ssa.CallCommon) string {
	fn, pkg, recv := staticMethod(c)
	if fn == nil || pkg != gormPath || recv != "DB" {
		return ""
	}
	return fn.Name()
}

// creation tells whether call hands out a resource that must be released,
// and which: a transaction from (*gorm.DB).Begin, or rows from
// (*gorm.DB).Rows or a database/sql Query/QueryContext.
func creation(call *ssa.Call) (resKind, string, bool) {
	fn, pkg, recv := staticMethod(call.Common())
	if fn == nil {
		return 0, "", false
	}
	switch {
	case pkg == gormPath && recv == "DB" && fn.Name() == "Begin":
		return resTx, "Begin()", true
	case pkg == gormPath && recv == "DB" && fn.Name() == "Rows":
		return resRows, "Rows()", true
	case pkg == sqlPath && (recv == "DB" || recv == "Tx" || recv == "Conn" || recv == "Stmt") &&
		(fn.Name() == "Query" || fn.Name() == "QueryContext"):
		return resRows, fn.Name() + "()", true
	}
	return 0, "", false
}

// isGormDB reports whether t is *gorm.DB.
func isGormDB(t types.Type) bool {
	p, ok := types.Unalias(t).(*types.Pointer)
	if !ok {
		return false
	}
	named, ok := types.Unalias(p.Elem()).(*types.Named)
	return ok && named.Obj().Pkg() != nil && named.Obj().Pkg().Path() == gormPath && named.Obj().Name() == "DB"
}

// isCloser reports whether values of type t can end a transaction: they
// have both Commit and Rollback methods (gorm.TxCommitter, *sql.Tx).
func isCloser(t types.Type) bool {
	ms := types.NewMethodSet(t)
	return ms.Lookup(nil, "Commit") != nil && ms.Lookup(nil, "Rollback") != nil
}

// closeMethod reports whether name releases a resource of kind k.
func closeMethod(k resKind, name string) bool {
	if k == resTx {
		return name == "Commit" || name == "Rollback"
	}
	return name == "Close"
}

// isRecover reports whether instr calls the recover builtin.
func isRecover(instr ssa.Instruction) bool {
	c, ok := instr.(*ssa.Call)
	if !ok {
		return false
	}
	b, ok := c.Call.Value.(*ssa.Builtin)
	return ok && b.Name() == "recover"
}

// isNil reports whether v is the constant nil.
func isNil(v ssa.Value) bool {
	c, ok := v.(*ssa.Const)
	return ok && c.IsNil()
}

// noReturn lists functions and methods, by package path and name, after
// which control does not come back: a path through them leaks nothing.
var noReturn = map[string]map[string]bool{
	"log":             {"Fatal": true, "Fatalf": true, "Fatalln": true, "Panic": true, "Panicf": true, "Panicln": true},
	"os":              {"Exit": true},
	"runtime":         {"Goexit": true},
	"testing":         {"Fatal": true, "Fatalf": true, "FailNow": true, "Skip": true, "Skipf": true, "SkipNow": true},
	"go.uber.org/zap": {"Fatal": true, "Fatalf": true, "Fatalw": true, "Panic": true, "Panicf": true, "Panicw": true},
}

// exits reports whether instr is a call that does not return.
func exits(instr ssa.Instruction) bool {
	c, ok := instr.(*ssa.Call)
	if !ok {
		return false
	}
	var obj types.Object
	if c.Call.IsInvoke() {
		obj = c.Call.Method
	} else if callee := c.Call.StaticCallee(); callee != nil {
		obj = callee.Object()
	}
	if obj == nil || obj.Pkg() == nil {
		return false
	}
	return noReturn[obj.Pkg().Path()][obj.Name()]
}
