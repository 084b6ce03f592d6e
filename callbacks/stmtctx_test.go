package callbacks

import (
	"testing"
	"unsafe"
)

// A stmtCtx is allocated with every statement, rounded up to the
// allocator's size class: 640 bytes now. A field that pushes it past
// that costs every statement 64 bytes more, and should be a decision.
func TestStmtCtxSizeClass(t *testing.T) {
	const class = 640
	if n := unsafe.Sizeof(stmtCtx{}); n > class {
		t.Fatalf("stmtCtx is %d bytes, over the %d-byte size class it is budgeted for", n, class)
	}
}
