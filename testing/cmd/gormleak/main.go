// Command gormleak runs the gormleak analyzer: it reports GORM
// transactions that are not committed or rolled back on every path, rows
// that are not closed on every path, and Transaction callbacks that drop a
// statement's error and return nil.
//
// Run it directly:
//
//	go run github.com/replyrocket/gormsession/testing/cmd/gormleak ./...
//
// or through go vet:
//
//	go install github.com/replyrocket/gormsession/testing/cmd/gormleak
//	go vet -vettool=$(which gormleak) ./...
//
// See package github.com/replyrocket/gormsession/testing/gormleak for what
// each report means.
package main

import (
	"golang.org/x/tools/go/analysis/singlechecker"

	"github.com/replyrocket/gormsession/testing/gormleak"
)

func main() { singlechecker.Main(gormleak.Analyzer) }
