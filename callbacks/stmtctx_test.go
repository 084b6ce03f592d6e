package callbacks

import (
	"testing"
	"unsafe"
)

// A stmtCtx is allocated with every statement, rounded up to the
// allocator's size class (640 bytes now) after the 8-byte header Go puts
// on objects over 512 bytes that hold pointers. A field that pushes it
// past that costs every statement 64 bytes more, and should be a decision.
func TestStmtCtxSizeClass(t *testing.T) {
	const class, header = 640, 8
	if n := unsafe.Sizeof(stmtCtx{}); n+header > class {
		t.Fatalf("stmtCtx is %d bytes (+%d of header), over the %d-byte size class it is budgeted for", n, header, class)
	}
}
