// Package bench holds gormsession's benchmarks against bare GORM and the
// reference plugins (gorm.io/plugin/opentelemetry tracing, gorm.io/plugin/
// prometheus). Everything is in the _test files; see BENCHMARKS.md at the
// repository root for the figures and the commands that produce them:
//
//	go test -run '^$' -bench . -count 6 ./internal/bench/ | tee new.txt
//	benchstat -col /v new.txt
package bench
