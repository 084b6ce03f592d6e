package callbacks

import (
	"runtime"
	"time"
)

// Leak detection (a Tx garbage-collected without Commit or Rollback) needs
// a cleanup attached to the Tx, and runtime.AddCleanup is the dearest thing
// a tracked transaction does: about a microsecond, and specials the
// collector must walk. Almost every transaction ends long before a second,
// so the cleanup is attached only to those still open then, by the
// sweeper, which already visits every tracked transaction. Until then the
// transaction's state holds the Tx, so a transaction leaked in its first
// second is found a second later than it would be otherwise; the deadline
// sweep and the monitor are unaffected.

// DefaultLeakCheckAfter is Options.LeakCheckAfter's default.
const DefaultLeakCheckAfter = time.Second

func (r *Runtime) leakCheckAfter() time.Duration {
	if d := r.opts.LeakCheckAfter; d != 0 {
		return d
	}
	return DefaultLeakCheckAfter
}

// watchLeak arranges for t's leak detection: at once if the sweeper is
// not there to attach it later (the runtime is closed, or the option is
// negative), else by the sweeper at start plus leakCheckAfter, unless t
// ends first.
func (r *Runtime) watchLeak(t *Tx, st *txState, l leak, start time.Time) {
	d := r.leakCheckAfter()
	if d < 0 || !r.outOfBand() {
		r.attachLeak(t, l)
		return
	}
	due := r.sw.at(start.Add(d))
	st.leakMu.Lock()
	st.leakTx, st.leakArg = t, l
	st.leakDue.Store(due)
	st.leakMu.Unlock()
	r.wake(due)
}

// leakDue attaches st's leak detection if its transaction is still open.
// The sweeper calls it once the due passed.
func (r *Runtime) leakDue(st *txState) {
	if t, l := st.takeLeak(); t != nil {
		r.attachLeak(t, l)
	}
}

// unwatchLeak drops st's hold on its Tx: the transaction ended.
func (st *txState) unwatchLeak() {
	if st.leakDue.Load() != 0 {
		st.takeLeak()
	}
}

// takeLeak returns the Tx and leak arg st holds, if any, and lets go of
// them: from then on nothing in st may hold the Tx.
func (st *txState) takeLeak() (*Tx, leak) {
	st.leakMu.Lock()
	defer st.leakMu.Unlock()
	t, l := st.leakTx, st.leakArg
	st.leakTx, st.leakArg = nil, leak{}
	st.leakDue.Store(0)
	return t, l
}

func (r *Runtime) attachLeak(t *Tx, l leak) {
	runtime.AddCleanup(t, r.onLeak, l)
	r.leakWatched.Add(1)
}

// LeakChecksAttached returns how many transactions got leak detection
// attached so far: those still open LeakCheckAfter after they began (or
// every one, once the runtime is closed).
func (r *Runtime) LeakChecksAttached() uint64 { return r.leakWatched.Load() }
