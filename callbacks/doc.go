// Package callbacks holds gormsession's GORM callbacks and the connection
// pool wrapper they work with: a tracked scope per statement and per
// transaction, its deadline, its breaker gate, the connection it waits for
// under a pool timeout, and one structured log line when it fails.
//
// Users install it through package sessionplugin; this package is its
// engine room and its API may change.
package callbacks
