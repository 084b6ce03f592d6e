//go:build !(amd64 || arm64)

package scope

import "runtime"

// useFP is false: Go keeps frame pointers on amd64 and arm64 only.
var useFP = false

// callers fills pcs with the return addresses of the calling goroutine's
// frames, skipping skip frames above its caller, as runtime.Callers does.
func callers(skip int, pcs []uintptr) int { return runtime.Callers(skip+2, pcs) }
