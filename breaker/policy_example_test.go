package breaker_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"gorm.io/gorm"
	"gorm.io/plugin/dbresolver"

	"github.com/replyrocket/gormsession/breaker"
)

// pool is a stand-in for a database's *sql.DB in the example.
type pool struct{ name string }

func (p *pool) PrepareContext(context.Context, string) (*sql.Stmt, error)       { return nil, nil }
func (p *pool) ExecContext(context.Context, string, ...any) (sql.Result, error) { return nil, nil }
func (p *pool) QueryContext(context.Context, string, ...any) (*sql.Rows, error) { return nil, nil }
func (p *pool) QueryRowContext(context.Context, string, ...any) *sql.Row        { return nil }

// Reads skip a replica whose breaker is open and go to the primary when
// none is left. With the gormsession plugin use its ReplicaPolicy, which
// builds this over the plugin's breakers and source names.
func ExampleNewPolicy() {
	set := breaker.NewSet(breaker.DefaultConfig(), nil)
	primary, r1, r2 := &pool{"primary"}, &pool{"replica-1"}, &pool{"replica-2"}
	pol := breaker.NewPolicy(set, breaker.PolicyConfig{
		Name:    func(p gorm.ConnPool) string { return p.(*pool).name },
		Primary: primary,
		Choose:  dbresolver.StrictRoundRobinPolicy(),
	})
	defer pol.Close()
	// What dbresolver passes on each read: dbresolver.Config{Replicas: ..., Policy: pol}.
	replicas := []gorm.ConnPool{r1, r2}
	reads := func() {
		var got []string
		for range 4 {
			got = append(got, pol.Resolve(replicas).(*pool).name)
		}
		fmt.Println(strings.Join(got, " "))
	}

	reads()
	set.Get("replica-1").SetMode(breaker.ModeForcedOpen) // or opened by failures
	reads()
	set.Get("replica-2").SetMode(breaker.ModeForcedOpen)
	reads()
	// Output:
	// replica-2 replica-1 replica-2 replica-1
	// replica-2 replica-2 replica-2 replica-2
	// primary primary primary primary
}
