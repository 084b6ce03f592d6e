package sessionplugin

import "time"

// SetReclaimAfter shortens the wait before an abandoned statement is taken
// back, for plugins created after the call; it returns the old value.
func SetReclaimAfter(d time.Duration) time.Duration {
	old := reclaimAfter
	reclaimAfter = d
	return old
}

// PolicyClosed reports whether r was closed.
func PolicyClosed(r *ReplicaPolicy) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// SameContext is sameContext, for its table test.
var SameContext = sameContext

// SetLeakCheckAfter changes how long a transaction stays open before it
// gets leak detection, for plugins created after the call; it returns the
// old value.
func SetLeakCheckAfter(d time.Duration) time.Duration {
	old := leakCheckAfter
	leakCheckAfter = d
	return old
}

// LeakChecksAttached is how many transactions of p got leak detection.
func LeakChecksAttached(p *Plugin) uint64 { return p.rt.LeakChecksAttached() }
