package sessionplugin_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/libtnb/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	"gorm.io/plugin/dbresolver"

	"github.com/replyrocket/gormsession/breaker"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// Reads skip a replica whose breaker is open, and go to the primary when
// no replica is left; writes always go to the primary. Three SQLite files
// stand for the primary and two replicas here, each holding its own name,
// so a read shows where it went.
func ExamplePlugin_ReplicaPolicy() {
	dir, err := os.MkdirTemp("", "gormsession-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	dialector := func(name string) gorm.Dialector { return sqlite.Open(filepath.Join(dir, name+".db")) }
	for _, name := range []string{"primary", "replica-1", "replica-2"} {
		db, err := gorm.Open(dialector(name), &gorm.Config{Logger: logger.Discard})
		if err != nil {
			panic(err)
		}
		db.Exec("CREATE TABLE origin (name TEXT)")
		db.Exec("INSERT INTO origin VALUES (?)", name)
		sqlDB, _ := db.DB()
		sqlDB.Close()
	}

	db, err := gorm.Open(dialector("primary"), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		panic(err)
	}
	p := sessionplugin.New(sessionplugin.DefaultConfig())
	policy := p.ReplicaPolicy(sessionplugin.ReplicaChoose(dbresolver.StrictRoundRobinPolicy()))
	resolver := dbresolver.Register(dbresolver.Config{
		Replicas: []gorm.Dialector{dialector("replica-1"), dialector("replica-2")},
		Policy:   policy,
	})
	if err := db.Use(resolver); err != nil { // dbresolver first, then the plugin
		panic(err)
	}
	if err := db.Use(p); err != nil {
		panic(err)
	}
	defer func() {
		policy.Close() // stops its health checks
		p.Close()
		resolver.Call(func(cp gorm.ConnPool) error {
			if c, ok := cp.(*sql.DB); ok {
				c.Close()
			}
			return nil
		})
		sqlDB, _ := db.DB()
		sqlDB.Close()
	}()

	read := func() string {
		var name string
		if err := db.Raw("SELECT name FROM origin").Scan(&name).Error; err != nil {
			return err.Error()
		}
		return name
	}
	fmt.Println(read(), read())
	p.Breaker("replica-1").SetMode(breaker.ModeForcedOpen) // or opened by failures
	fmt.Println(read(), read())
	p.Breaker("replica-2").SetMode(breaker.ModeForcedOpen)
	fmt.Println(read(), read())

	db.Exec("INSERT INTO origin VALUES ('written')")
	var rows int64
	db.Clauses(dbresolver.Write).Raw("SELECT count(*) FROM origin").Scan(&rows)
	fmt.Println("rows on the primary:", rows)
	var sources []string
	for _, pool := range p.Stats().Pools {
		sources = append(sources, pool.Source)
	}
	fmt.Println("sources:", strings.Join(sources, " "))
	// Output:
	// replica-2 replica-1
	// replica-2 replica-2
	// primary primary
	// rows on the primary: 2
	// sources: primary replica-1 replica-2
}
