//go:build amd64 || arm64

package scope

import (
	"os"
	"runtime"
	"unsafe"
)

// getfp returns the frame pointer of its caller (fp_*.s).
func getfp() unsafe.Pointer

// useFP: Go keeps a frame pointer in every frame on amd64 and arm64 (the
// runtime's execution tracer unwinds the same way). GORMSESSION_FP_UNWIND=0
// falls back to runtime.Callers.
var useFP = os.Getenv("GORMSESSION_FP_UNWIND") != "0"

// callers fills pcs with the return addresses of the calling goroutine's
// frames, innermost first, and returns how many it wrote. Following frame
// pointers costs a few nanoseconds a frame where runtime.Callers costs a
// hundred or more (it decodes unwind tables per frame), and this runs for
// every statement. The addresses are of physical frames: runtime.
// CallersFrames expands inlined calls from them, as it does for Callers'.
// With frame pointers the first frames are this package's and the ABI
// wrapper's, and skip is not applied; callers of callers skip internal
// frames anyway.
func callers(skip int, pcs []uintptr) int {
	if !useFP {
		return runtime.Callers(skip+2, pcs)
	}
	return fpCallers(pcs)
}

// fpCallers walks the frame pointer chain of the current goroutine. It
// must not grow the stack while it holds pointers into it (nosplit), and
// stops at the chain's end (nil), or at a link that does not point further
// up the stack, which a valid chain never has.
//
//go:nosplit
//go:norace
//go:nocheckptr
func fpCallers(pcs []uintptr) int {
	fp := getfp()
	n := 0
	for n < len(pcs) && fp != nil {
		// The return address sits one word above the saved frame pointer.
		pcs[n] = *(*uintptr)(unsafe.Add(fp, unsafe.Sizeof(uintptr(0))))
		n++
		next := *(*unsafe.Pointer)(fp)
		if uintptr(next) <= uintptr(fp) {
			break
		}
		fp = next
	}
	return n
}
