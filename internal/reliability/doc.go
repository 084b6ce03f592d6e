// Package reliability holds gormsession's fault-injection suite under load
// (issue 6). It has no code of its own: its tests run 32 goroutines of
// sessionplugin.Transaction, each inserting one row with a known id,
// through a sessiontest.FaultProxy in front of real PostgreSQL and MariaDB,
// while the proxy resets connections, refuses them, blackholes traffic or
// adds latency, and then recovers.
//
// For every fault and database the suite checks, through a direct
// connection that bypasses the proxy, that each Transaction that returned
// nil left its row exactly once and each one that failed (other than with
// commit_unknown) left none; that the "primary" breaker opened during the
// faults that should open it, failed fast while open without dialing, and
// closed again soon after the recovery; and that no session or goroutine
// leaked. It prints the figures as a markdown table, the one in
// RELIABILITY.md at the repository root.
//
// Run it alone with
//
//	go test -race -count=1 -run TestFaults -v ./internal/reliability/
//
// Without a database server its subtests are skipped, or fail with CI=true.
package reliability
