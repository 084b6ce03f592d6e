package scope

import (
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// internalPrefixes are the packages whose frames are never "the caller".
var internalPrefixes = []string{
	"gorm.io/",
	"database/sql",
	"runtime.",
	"github.com/replyrocket/gormsession/plugin.",
	"github.com/replyrocket/gormsession/callbacks.",
	"github.com/replyrocket/gormsession/callbacks/",
	"github.com/replyrocket/gormsession/breaker.",
	"github.com/replyrocket/gormsession/internal/",
}

type frameInfo struct {
	internal bool
	where    string
}

var frameCache sync.Map // uintptr -> *frameInfo, never removed

// unknownCaller is the Caller of a scope opened from internal frames only.
var unknownCaller = "unknown"

// Caller returns "file:line" of the first stack frame outside GORM and
// gormsession, skipping skip frames above Caller's own caller. It returns
// "unknown" when every frame is internal. Frames are resolved once per
// program counter and cached, so the steady-state cost is one
// runtime.Callers walk.
func Caller(skip int) string { return *callerRef(skip + 1) }

// CaptureCaller sets s.Caller as Caller does, without keeping the stack:
// for a scope that ends before anyone could ask for it (a statement the
// breaker refused).
func CaptureCaller(s *Scope, skip int) {
	s.callerRef = callerRef(skip + 1)
	s.Caller = *s.callerRef
}

// callerRef finds the caller in steps of a few frames, since it is usually
// among the first: runtime.Callers costs per frame walked. Like Capture, it
// looks at most maxFrames deep.
func callerRef(skip int) *string {
	var pcs [8]uintptr
	for walked := 0; walked < maxFrames; walked += len(pcs) {
		n := runtime.Callers(skip+2+walked, pcs[:])
		for _, pc := range pcs[:n] {
			if fi := lookup(pc); !fi.internal {
				return &fi.where
			}
		}
		if n < len(pcs) {
			break
		}
	}
	return &unknownCaller
}

// maxFrames is how deep Caller and Capture look for the caller.
const maxFrames = 48

// Capture sets s.Caller as Caller does and keeps the stack from that frame
// down, for Stack.
func Capture(s *Scope, skip int) {
	var pcs [maxFrames]uintptr
	n := runtime.Callers(skip+2, pcs[:])
	for i, pc := range pcs[:n] {
		fi := lookup(pc)
		if !fi.internal {
			s.Caller, s.callerRef = fi.where, &fi.where
			s.npcs = uint8(copy(s.pcs[:], pcs[i:n]))
			return
		}
	}
	s.Caller, s.callerRef = unknownCaller, &unknownCaller
}

// Stack returns the stack of the goroutine that opened s, as it was when
// it opened it, from the caller down: "function\n\tfile:line" per frame.
func (s *Scope) Stack() string {
	if s.npcs == 0 {
		return ""
	}
	var b strings.Builder
	frames := runtime.CallersFrames(s.pcs[:s.npcs])
	for {
		f, more := frames.Next()
		b.WriteString(f.Function)
		b.WriteString("\n\t")
		b.WriteString(f.File)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(f.Line))
		b.WriteByte('\n')
		if !more {
			break
		}
	}
	return b.String()
}

// lookup resolves pc once; the *frameInfo it returns is shared and never
// changes, so its where string can be referred to without copying.
func lookup(pc uintptr) *frameInfo {
	if v, ok := frameCache.Load(pc); ok {
		return v.(*frameInfo)
	}
	frames := runtime.CallersFrames([]uintptr{pc})
	fi := &frameInfo{internal: true}
	for {
		f, more := frames.Next()
		if !isInternal(f.Function) {
			fi = &frameInfo{where: shortFile(f.File) + ":" + strconv.Itoa(f.Line)}
			break
		}
		if !more {
			break
		}
	}
	v, _ := frameCache.LoadOrStore(pc, fi)
	return v.(*frameInfo)
}

func isInternal(fn string) bool {
	if fn == "" {
		return true
	}
	for _, p := range internalPrefixes {
		if strings.HasPrefix(fn, p) {
			return true
		}
	}
	return false
}

// shortFile keeps the last two path elements: "handlers/user.go".
func shortFile(path string) string {
	i := strings.LastIndexByte(path, '/')
	if i < 0 {
		return path
	}
	if j := strings.LastIndexByte(path[:i], '/'); j >= 0 {
		return path[j+1:]
	}
	return path
}
