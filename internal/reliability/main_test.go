package reliability

import (
	"io"
	"log"
	"testing"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// go-sql-driver/mysql prints every broken packet to stderr; under
	// thousands of injected resets that would bury the figures. The errors
	// still reach the callers, which is what the suite counts.
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
	goleak.VerifyTestMain(m)
}
