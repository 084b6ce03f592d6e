// Package gormleak is a go/analysis analyzer that finds GORM session leaks
// before they reach production: the Go form of the seed's
// scan_for_db_leaks.py, built on SSA so that "on every path" means every
// path through the function's control-flow graph.
//
// # What it reports
//
// A transaction that is not ended. A *gorm.DB from (*gorm.DB).Begin must
// be committed or rolled back on every path out of the function. Commit or
// Rollback on the transaction, or on a gorm chain built from it
// (tx.Where(...).Rollback()), ends it; so does a deferred one (defer
// tx.Rollback(), or a deferred closure that rolls back), from the point of
// the defer on. A transaction that is returned, stored in a field, global
// or map, sent, passed to another function, or captured by a closure that
// is itself handed on, is the receiver's to end. The branch where Begin
// failed (if tx.Error != nil) holds no transaction. The classic bug is the
// early return after a failed statement:
//
//	tx := db.Begin()
//	if err := tx.Create(&u).Error; err != nil {
//		return err // reported: the transaction stays open, holding its connection
//	}
//	return tx.Commit().Error
//
// The report is at the Begin, naming the lines of the returns that leave
// it open, and suggests sessionplugin.Transaction, which commits when its
// callback returns nil and rolls back on error or panic.
//
// Rows that are not closed. *sql.Rows from (*gorm.DB).Rows, or from
// Query/QueryContext on a database/sql DB, Tx, Conn or Stmt, must be closed
// on every path: rows.Close() or defer rows.Close(), or handing them on as
// above. db.ScanRows(rows, &x) reads a row and does not close. The branch
// where the call failed (if err != nil, or rows == nil) holds no rows, and
// neither does the branch where rows.Next() returned false, as
// database/sql closes the rows then. Rows still open when a loop runs the
// same query again are reported too.
//
// A transaction callback that swallows an error. In a callback given to
// (*gorm.DB).Transaction or to sessionplugin.Transaction, a statement on the
// callback's tx (Create, Save, First, Find, Update, Delete, Exec, ...) whose
// failure can reach a "return nil" commits half-done work. Both forms are
// reported, at the statement:
//
//	if err := tx.Create(&u).Error; err != nil {
//		log.Print(err) // reported: logged, then the callback returns nil
//	}
//	tx.Save(&order) // reported: .Error never looked at
//	return nil
//
// A path on which the error is returned, wrapped and returned, panicked,
// stored outside the callback (a field, a slice of errors, a channel) or
// looked into (errors.Is(err, gorm.ErrRecordNotFound)) is taken as handled.
//
// # Running it
//
// Directly, from the module that uses GORM:
//
//	go run github.com/replyrocket/gormsession/testing/cmd/gormleak ./...
//
// or as a vet tool:
//
//	go install github.com/replyrocket/gormsession/testing/cmd/gormleak
//	go vet -vettool=$(which gormleak) ./...
//
// Both exit non-zero when they report something. Test files are analyzed
// too; pass -test=false to the command to skip them. A leak that is on
// purpose (a test of a leak detector) is silenced by a comment starting
// with //gormleak:ignore on the reported line or the line above it.
//
// # Limits
//
// The analysis stays within one function, plus the closures that capture
// the transaction or rows, so it misses a leak that a helper causes, and it
// trusts any function it hands the value to. A deferred closure that ends
// the transaction or closes the rows under a condition is trusted to cover
// every return, unless its only condition is recover() and it reads
// nothing else it captures: then it covers panics only. A path ends at a
// call that does not return (log.Fatal, os.Exit, t.Fatal, t.Skip); one
// through a function of your own that never returns is followed on. Only
// statements made directly on the callback's tx, in the callback's own
// body, are checked for swallowed errors.
package gormleak
