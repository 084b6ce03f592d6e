package gormleak_test

import (
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/replyrocket/gormsession/testing/gormleak"
)

func TestTransactions(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), gormleak.Analyzer, "txleak")
}

func TestRows(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), gormleak.Analyzer, "rowsleak")
}

func TestTransactionCallbacks(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), gormleak.Analyzer, "txcallback")
}
