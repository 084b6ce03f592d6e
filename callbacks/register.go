package callbacks

import (
	"fmt"

	"gorm.io/gorm"
)

// Name prefixes every callback gormsession registers.
const Name = "gormsession"

type registerFunc = func(name string, fn func(*gorm.DB)) error

// Register installs the before and after steps on GORM's create, query,
// update, delete, row and raw chains. Before-steps run after dbresolver has
// picked the source and, for writes, before GORM's implicit BEGIN, so a
// refused write never opens its transaction; after-steps run last. It
// returns the first registration error, wrapped with the callback's name,
// after removing every callback it had registered: a chain GORM failed to
// order has no callbacks at all until it compiles again, so a half-done
// registration would silently stop that kind of statement.
func (r *Runtime) Register(db *gorm.DB) error {
	cb := db.Callback()
	const resolver = "gorm:db_resolver"
	chains := []struct {
		op            Op
		chain         chain
		before, after registerFunc
	}{
		{OpCreate, cb.Create(),
			func(n string, f func(*gorm.DB)) error {
				return cb.Create().After(resolver).Before("gorm:begin_transaction").Register(n, f)
			},
			func(n string, f func(*gorm.DB)) error { return cb.Create().After("*").Register(n, f) }},
		{OpQuery, cb.Query(),
			func(n string, f func(*gorm.DB)) error {
				return cb.Query().After(resolver).Before("gorm:query").Register(n, f)
			},
			func(n string, f func(*gorm.DB)) error { return cb.Query().After("*").Register(n, f) }},
		{OpUpdate, cb.Update(),
			func(n string, f func(*gorm.DB)) error {
				return cb.Update().After(resolver).Before("gorm:begin_transaction").Register(n, f)
			},
			func(n string, f func(*gorm.DB)) error { return cb.Update().After("*").Register(n, f) }},
		{OpDelete, cb.Delete(),
			func(n string, f func(*gorm.DB)) error {
				return cb.Delete().After(resolver).Before("gorm:begin_transaction").Register(n, f)
			},
			func(n string, f func(*gorm.DB)) error { return cb.Delete().After("*").Register(n, f) }},
		{OpRow, cb.Row(),
			func(n string, f func(*gorm.DB)) error {
				return cb.Row().After(resolver).Before("gorm:row").Register(n, f)
			},
			func(n string, f func(*gorm.DB)) error { return cb.Row().After("*").Register(n, f) }},
		{OpRaw, cb.Raw(),
			func(n string, f func(*gorm.DB)) error {
				return cb.Raw().After(resolver).Before("gorm:raw").Register(n, f)
			},
			func(n string, f func(*gorm.DB)) error { return cb.Raw().After("*").Register(n, f) }},
	}
	type added struct {
		chain chain
		name  string
	}
	var done []added
	register := func(c chain, name string, reg registerFunc, fn func(*gorm.DB)) error {
		had := c.Get(name) != nil
		if err := reg(name, fn); err != nil {
			for _, a := range done {
				_ = a.chain.Remove(a.name)
			}
			if !had && c.Get(name) != nil {
				_ = c.Remove(name)
			}
			return fmt.Errorf("register %s: %w", name, err)
		}
		done = append(done, added{c, name})
		return nil
	}
	for _, c := range chains {
		if err := register(c.chain, fmt.Sprintf("%s:before_%s", Name, c.op), c.before, r.Before(c.op)); err != nil {
			return err
		}
		if err := register(c.chain, fmt.Sprintf("%s:after_%s", Name, c.op), c.after, r.After(c.op)); err != nil {
			return err
		}
	}
	return nil
}

// chain is the part of GORM's (unexported) callback processor Register
// needs to undo itself.
type chain interface {
	Get(name string) func(*gorm.DB)
	Remove(name string) error
}
