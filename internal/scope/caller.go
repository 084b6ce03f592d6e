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

var frameCache sync.Map // uintptr -> frameInfo

// Caller returns "file:line" of the first stack frame outside GORM and
// gormsession, skipping skip frames above Caller's own caller. It returns
// "unknown" when every frame is internal. Frames are resolved once per
// program counter and cached, so the steady-state cost is one
// runtime.Callers walk.
func Caller(skip int) string {
	var pcs [48]uintptr
	n := runtime.Callers(skip+2, pcs[:])
	for _, pc := range pcs[:n] {
		fi := lookup(pc)
		if !fi.internal {
			return fi.where
		}
	}
	return "unknown"
}

// Capture sets s.Caller as Caller does and keeps the stack from that frame
// down, for Stack.
func Capture(s *Scope, skip int) {
	var pcs [48]uintptr
	n := runtime.Callers(skip+2, pcs[:])
	for i, pc := range pcs[:n] {
		fi := lookup(pc)
		if !fi.internal {
			s.Caller = fi.where
			s.npcs = uint8(copy(s.pcs[:], pcs[i:n]))
			return
		}
	}
	s.Caller = "unknown"
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

func lookup(pc uintptr) frameInfo {
	if v, ok := frameCache.Load(pc); ok {
		return v.(frameInfo)
	}
	frames := runtime.CallersFrames([]uintptr{pc})
	fi := frameInfo{internal: true}
	for {
		f, more := frames.Next()
		if !isInternal(f.Function) {
			fi = frameInfo{where: shortFile(f.File) + ":" + strconv.Itoa(f.Line)}
			break
		}
		if !more {
			break
		}
	}
	frameCache.Store(pc, fi)
	return fi
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
