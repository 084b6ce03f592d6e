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
// returns the first registration error, wrapped with the callback's name.
func (r *Runtime) Register(db *gorm.DB) error {
	cb := db.Callback()
	const resolver = "gorm:db_resolver"
	chains := []struct {
		op            Op
		before, after registerFunc
	}{
		{OpCreate,
			func(n string, f func(*gorm.DB)) error {
				return cb.Create().After(resolver).Before("gorm:begin_transaction").Register(n, f)
			},
			func(n string, f func(*gorm.DB)) error { return cb.Create().After("*").Register(n, f) }},
		{OpQuery,
			func(n string, f func(*gorm.DB)) error {
				return cb.Query().After(resolver).Before("gorm:query").Register(n, f)
			},
			func(n string, f func(*gorm.DB)) error { return cb.Query().After("*").Register(n, f) }},
		{OpUpdate,
			func(n string, f func(*gorm.DB)) error {
				return cb.Update().After(resolver).Before("gorm:begin_transaction").Register(n, f)
			},
			func(n string, f func(*gorm.DB)) error { return cb.Update().After("*").Register(n, f) }},
		{OpDelete,
			func(n string, f func(*gorm.DB)) error {
				return cb.Delete().After(resolver).Before("gorm:begin_transaction").Register(n, f)
			},
			func(n string, f func(*gorm.DB)) error { return cb.Delete().After("*").Register(n, f) }},
		{OpRow,
			func(n string, f func(*gorm.DB)) error {
				return cb.Row().After(resolver).Before("gorm:row").Register(n, f)
			},
			func(n string, f func(*gorm.DB)) error { return cb.Row().After("*").Register(n, f) }},
		{OpRaw,
			func(n string, f func(*gorm.DB)) error {
				return cb.Raw().After(resolver).Before("gorm:raw").Register(n, f)
			},
			func(n string, f func(*gorm.DB)) error { return cb.Raw().After("*").Register(n, f) }},
	}
	for _, c := range chains {
		name := fmt.Sprintf("%s:before_%s", Name, c.op)
		if err := c.before(name, r.Before(c.op)); err != nil {
			return fmt.Errorf("register %s: %w", name, err)
		}
		name = fmt.Sprintf("%s:after_%s", Name, c.op)
		if err := c.after(name, r.After(c.op)); err != nil {
			return fmt.Errorf("register %s: %w", name, err)
		}
	}
	return nil
}
