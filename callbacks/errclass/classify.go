package errclass

import "context"

// Classify returns the Category of err. It returns None for a nil error and
// Unknown for an error it does not recognise. It never panics: an error in
// the tree whose methods panic is skipped.
//
// Classify looks through fmt.Errorf("%w"), errors.Join and GORM's AddError
// chaining ("%v; %w"), and honours Is methods like errors.Is (As methods
// are not consulted). Of a GORM chain only the newest error can be
// unwrapped; older ones survive as text only and are not inspected.
//
// When several rules apply, the first of these wins:
//
//  1. gormsession's own sentinels, anywhere in the tree, in the order
//     ErrCommitUnknown, ErrCircuitOpen, ErrPoolTimeout, ErrQueryTimeout: they
//     carry what gormsession knows and the driver does not (a deadline it set,
//     a COMMIT it lost).
//  2. A database error (PostgreSQL SQLSTATE, MySQL/MariaDB error number,
//     SQLite result code) that says what went wrong with the statement:
//     a constraint, data, privilege, deadlock... The outermost one (depth
//     first) wins.
//  3. context.Canceled (canceled) and context.DeadlineExceeded (timeout): the
//     caller's context explains interrupt-like database codes and broken
//     connections better than the codes do.
//  4. A database error that only says the statement was interrupted or the
//     connection failed (PG 57014, MySQL 1317, SQLite 9, PG class 08...).
//  5. GORM, database/sql, driver and network errors without a database code:
//     gorm.ErrRecordNotFound, sql.ErrNoRows, sql.ErrTxDone, net.OpError...
//
// See docs/categories.md for the full mapping.
func Classify(err error) (c Category) {
	if err == nil {
		return None
	}
	defer func() {
		if recover() != nil {
			c = Unknown
		}
	}()
	if wrapsOnlyCircuitOpen(err) {
		return CircuitOpen
	}
	return inspect(err).category()
}

// wrapsOnlyCircuitOpen reports whether err's whole tree is err and
// ErrCircuitOpen, which err wraps directly and has no Is method to match
// anything else: a breaker's refusal. Rule 1 decides that tree, so it is
// classified without a walk: refusals come by the thousand while a
// database is down.
func wrapsOnlyCircuitOpen(err error) bool {
	u, ok := err.(interface{ Unwrap() error })
	if !ok {
		return false
	}
	if _, ok := err.(interface{ Is(error) bool }); ok {
		return false
	}
	return u.Unwrap() == ErrCircuitOpen
}

// facts is what one walk over an error tree found.
type facts struct {
	ours       Category // gormsession sentinel, by priority
	driver     Category // first database error found
	code       string   // that error's code
	haveDriver bool
	ctx        Category // Canceled or Timeout from a context error on the primary path
	ctxJoined  Category // the same from an error joined to it
	generic    Category // first GORM / database/sql / network rule that matched
	marked     bool     // MarkBeforeStatement seen
	safe       bool     // driver said nothing was sent (driver.ErrBadConn, SafeToRetry)
}

// ourSentinels orders gormsession's sentinels: earlier wins.
var ourSentinels = [...]struct {
	err error
	cat Category
}{
	{ErrCommitUnknown, CommitUnknown},
	{ErrCircuitOpen, CircuitOpen},
	{ErrPoolTimeout, PoolExhausted},
	{ErrQueryTimeout, Timeout},
}

func inspect(err error) *facts {
	f := &facts{}
	ourRank := len(ourSentinels)
	walk(err, func(e error, primary bool) {
		for i := 0; i < ourRank; i++ {
			if is(e, ourSentinels[i].err) {
				ourRank = i
				f.ours = ourSentinels[i].cat
				break
			}
		}
		if !f.haveDriver {
			if cat, code, ok := driverError(e); ok {
				f.driver, f.code, f.haveDriver = cat, code, true
			}
		}
		// A context error joined to the real one (a rollback cut by the
		// caller's cancel after a broken connection) does not explain it.
		if c := f.ctxSlot(primary); *c == None {
			switch {
			case is(e, context.Canceled):
				*c = Canceled
			case is(e, context.DeadlineExceeded):
				*c = Timeout
			}
		}
		if f.generic == None {
			f.generic = genericError(e)
		}
		// Retry evidence counts only on the primary path, not from an
		// error joined to it (say a failed rollback after the real error).
		if primary {
			if _, ok := e.(*beforeStatementError); ok {
				f.marked = true
			}
			if safeToRetry(e) {
				f.safe = true
			}
		}
	})
	return f
}

func (f *facts) category() Category {
	switch {
	case f.ours != None:
		return f.ours
	case f.haveDriver && f.driver != Unknown && !interruptLike(f.driver):
		return f.driver
	case f.ctx != None:
		return f.ctx
	case f.haveDriver && f.driver != Unknown:
		// A database code that only says "cut short" is explained by a
		// context error anywhere in the tree.
		if f.ctxJoined != None && interruptLike(f.driver) {
			return f.ctxJoined
		}
		return f.driver
	case f.generic != None:
		return f.generic
	case f.ctxJoined != None:
		return f.ctxJoined
	}
	return Unknown
}

func (f *facts) ctxSlot(primary bool) *Category {
	if primary {
		return &f.ctx
	}
	return &f.ctxJoined
}

// interruptLike reports whether a database code in c only says the
// statement was cut short or the link broke, which the caller's context (if
// it is in the chain) explains better.
func interruptLike(c Category) bool {
	return c == Canceled || c == Timeout || c == Connection
}

// maxNodes bounds the walk so a cyclic or absurdly deep Unwrap chain cannot
// hang Classify.
const maxNodes = 1000

// walk calls visit on err and on every error it wraps, depth first,
// outermost first, following Unwrap() error and Unwrap() []error. primary
// is true for err and what it wraps through single Unwraps and the first
// element of each multi-error. A node whose methods panic is skipped (and
// not descended into if Unwrap panics); the rest of the tree is visited.
func walk(err error, visit func(e error, primary bool)) {
	budget := maxNodes
	var rec func(error, bool)
	rec = func(e error, primary bool) {
		for e != nil && budget > 0 {
			budget--
			next, many, ok := step(e, primary, visit)
			if !ok {
				return
			}
			if many != nil {
				for i, inner := range many {
					rec(inner, primary && i == 0)
				}
				return
			}
			e = next
		}
	}
	rec(err, true)
}

// step visits e and returns what it wraps. ok is false if e's Unwrap
// panicked; a panic in visit only skips e itself (a join's Error panics
// when one of its errors' does, yet its other errors are fine).
func step(e error, primary bool, visit func(error, bool)) (next error, many []error, ok bool) {
	func() {
		defer func() { _ = recover() }()
		visit(e, primary)
	}()
	defer func() {
		if recover() != nil {
			next, many, ok = nil, nil, false
		}
	}()
	switch u := e.(type) {
	case interface{ Unwrap() error }:
		return u.Unwrap(), nil, true
	case interface{ Unwrap() []error }:
		return nil, u.Unwrap(), true
	}
	return nil, nil, true
}

// is is one step of errors.Is: e itself matches target (target must be
// comparable, which every target here is).
func is(e, target error) bool {
	if e == target {
		return true
	}
	if x, ok := e.(interface{ Is(error) bool }); ok {
		return x.Is(target)
	}
	return false
}

// Code returns the database's own code for err, for logging: the SQLSTATE
// on PostgreSQL ("23505"), the error number on MySQL/MariaDB ("1062"), the
// extended result code on SQLite ("2067"). It looks through wrapping like
// Classify and returns "" for nil, for an error without a database code
// (context, network, GORM sentinels) and if it would otherwise panic.
func Code(err error) (code string) {
	if err == nil {
		return ""
	}
	defer func() {
		if recover() != nil {
			code = ""
		}
	}()
	return inspect(err).code
}
