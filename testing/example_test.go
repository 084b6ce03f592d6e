package sessiontest_test

import (
	"fmt"
	"os"
	"regexp"
	"testing"

	sessionplugin "github.com/replyrocket/gormsession/plugin"
	sessiontest "github.com/replyrocket/gormsession/testing"
)

// A test opens its own database, installs the plugin, and checks at the end
// that every session it opened was ended. Here the test forgets a
// transaction, and VerifyNoLeaks names the line that began it.
func ExampleVerifyNoLeaks() {
	t := newExampleT() // in a real test: the test's *testing.T
	defer t.finish()

	db := sessiontest.OpenSQLite(t)
	p := sessionplugin.New(sessionplugin.DefaultConfig())
	if err := db.Use(p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })

	type Order struct {
		ID   uint
		Item string
	}
	if err := db.AutoMigrate(&Order{}); err != nil {
		t.Fatal(err)
	}

	tx := db.Begin() // never committed: a leak
	tx.Create(&Order{Item: "book"})
	sessiontest.VerifyNoLeaks(t, db) // reports it

	tx.Rollback()
	sessiontest.VerifyNoLeaks(t, db) // clean: reports nothing

	// Output:
	// sessiontest: 1 database session still open:
	//   transaction #3 on primary, opened at testing/example_test.go:35, open for 1s, last statement at testing/example_test.go:36
	//   1 connection of primary still in use
}

// exampleT stands in for the *testing.T that a real test gets, so the
// example can run: it runs cleanups when the example ends, and prints what
// the test would report, with each age shown as 1s (it varies from run to
// run).
type exampleT struct {
	testing.TB // unset: only the methods below are called
	cleanups   []func()
}

func newExampleT() *exampleT { return &exampleT{} }

func (t *exampleT) Helper()          {}
func (t *exampleT) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }

func (t *exampleT) TempDir() string {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

var age = regexp.MustCompile(`open for [^,\n]+`)

func (t *exampleT) Errorf(format string, args ...any) {
	fmt.Println(age.ReplaceAllString(fmt.Sprintf(format, args...), "open for 1s"))
}

func (t *exampleT) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }
func (t *exampleT) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (t *exampleT) Skipf(format string, args ...any)  { panic(fmt.Sprintf(format, args...)) }

// finish runs the cleanups, last registered first, as testing does.
func (t *exampleT) finish() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}
