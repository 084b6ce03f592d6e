package scope

import (
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// frameInfo is what one program counter resolves to; it never changes
// once published.
type frameInfo struct {
	pc       uintptr
	internal bool
	where    string
}

// frameTable is the hot path's cache: direct-mapped by pc, one atomic
// load and a compare a frame, where a sync.Map Load hashes an interface
// and walks a trie. Two hot PCs that share a slot evict each other and
// fall back to frameCache, which keeps every frame ever resolved, so a
// collision costs time, never a wrong answer or a second symbolization.
var frameTable [1 << frameTableBits]atomic.Pointer[frameInfo]

const frameTableBits = 12 // 4096 slots, 32 KiB: GORM's frames and the callers'

var frameCache sync.Map // uintptr -> *frameInfo, never removed

// unknownCaller is the Caller of a scope opened from internal frames only.
var unknownCaller = "unknown"

// Caller returns "file:line" of the first stack frame outside GORM and
// gormsession, skipping skip frames above Caller's own caller. It returns
// "unknown" when every frame is internal. Frames are resolved once per
// program counter and cached, so the steady-state cost is one
// runtime.Callers walk.
func Caller(skip int) string {
	var pcs [maxFrames]uintptr
	n := runtime.Callers(skip+2, pcs[:])
	for _, pc := range pcs[:n] {
		if fi := lookup(pc); !fi.internal {
			return fi.where
		}
	}
	return unknownCaller
}

// CaptureCaller sets s.Caller as Capture does, without keeping the stack:
// for a scope that ends before anyone could ask for it (a statement the
// breaker refused).
func CaptureCaller(s *Scope, skip int) {
	var pcs [maxFrames]uintptr
	depth := int(walkDepth.Load())
	for {
		n := callers(skip+1, pcs[:depth])
		_, fi, again := find(pcs[:n], depth, 0)
		if again == 0 {
			if fi == nil {
				s.Caller, s.callerRef = unknownCaller, &unknownCaller
				return
			}
			s.Caller, s.callerRef = fi.where, &fi.where
			return
		}
		depth = again
	}
}

// maxFrames is how deep Capture looks for the caller.
const maxFrames = 48

// Capture sets s.Caller to "file:line" of the first frame outside GORM and
// gormsession (Caller's result) and keeps the stack from that frame down,
// for Stack. It runs for every statement: the stack is read by following
// frame pointers where Go keeps them (amd64, arm64), else with
// runtime.Callers skipping skip frames above Capture's caller, and only as
// deep as needed (walkDepth); frames are symbolized once per program
// counter and found again through frameTable.
func Capture(s *Scope, skip int) {
	var pcs [maxFrames]uintptr
	depth := int(walkDepth.Load())
	for {
		// Read here, not in a helper: a frame more would be a frame more
		// for runtime.Callers to unwind.
		n := callers(skip+1, pcs[:depth])
		i, fi, again := find(pcs[:n], depth, len(s.pcs))
		if again == 0 {
			if fi == nil {
				s.Caller, s.callerRef = unknownCaller, &unknownCaller
				return
			}
			s.Caller, s.callerRef = fi.where, &fi.where
			s.npcs = uint8(pack(&s.pcs, pcs[i:n]))
			return
		}
		depth = again
	}
}

// walkDepth is how many frames Capture reads first: the deepest caller
// seen so far plus the frames it keeps. Following frame pointers is a
// chain of dependent loads, a few cycles a frame, so reading maxFrames
// every time would be most of Capture's cost; a statement whose stack
// needs more is read again, deeper, and raises it for the ones after.
var walkDepth atomic.Int32

const initialWalkDepth = 32 // the frames Capture keeps and a few internal ones

func init() { walkDepth.Store(initialWalkDepth) }

// find looks through pcs, the first frames of a stack read up to depth,
// for the first outside GORM and gormsession: its index i and info fi
// (nil if none). If depth cut pcs short of that frame and keep more, it
// returns again, the depth to read the stack to before calling it again;
// once again is 0, the result is what reading maxFrames would have given.
func find(pcs []uintptr, depth, keep int) (i int, fi *frameInfo, again int) {
	n := len(pcs)
	i = n
	for j, pc := range pcs {
		f := frameTable[frameSlot(pc)].Load() // lookup, inlined by hand
		if f == nil || f.pc != pc {
			f = lookupSlow(pc)
		}
		if !f.internal {
			i, fi = j, f
			break
		}
	}
	if fi == nil {
		if n == depth && depth < maxFrames {
			return i, nil, maxFrames
		}
		return i, nil, 0
	}
	need := min(i+keep, maxFrames)
	if n < need {
		if n == depth {
			return i, fi, need // cut short by depth, not by the stack's end
		}
	} else if need > int(walkDepth.Load()) {
		raiseWalkDepth(int32(need))
	}
	return i, fi, 0
}

func raiseWalkDepth(d int32) {
	for {
		old := walkDepth.Load()
		if d <= old || walkDepth.CompareAndSwap(old, d) {
			return
		}
	}
}

// Stack returns the stack of the goroutine that opened s, as it was when
// it opened it, from the caller down: "function\n\tfile:line" per frame,
// at most len(s.pcs) frames. Frames of GORM and gormsession inlined into
// the caller's, and compiler-generated wrappers, are left out.
func (s *Scope) Stack() string {
	if s.npcs == 0 {
		return ""
	}
	var pcs [len(s.pcs)]uintptr
	for i, d := range s.pcs[:s.npcs] {
		pcs[i] = textBase + uintptr(d)
	}
	var b strings.Builder
	frames := runtime.CallersFrames(pcs[:s.npcs])
	top, printed := true, 0
	for printed < len(s.pcs) {
		f, more := frames.Next()
		if isWrapper(&f) || top && isInternal(f.Function) {
			if !more {
				break
			}
			continue
		}
		top = false
		printed++
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

// textBase is an address in this binary's text, which Go links as one
// block far smaller than 2 GiB: its return addresses fit in an int32 as
// offsets from it.
var textBase = func() uintptr {
	var pc [1]uintptr
	runtime.Callers(1, pc[:])
	return pc[0]
}()

// pack stores pcs as offsets from textBase, as many as fit, and returns
// how many it stored. It stops at the first that is not within 2 GiB of
// textBase (code outside the binary's text: a plugin's, C's), so the
// stack ends short there rather than with a wrong frame.
func pack(dst *[24]int32, pcs []uintptr) int {
	n, base := 0, textBase
	for _, pc := range pcs[:min(len(pcs), len(dst))] {
		d := int32(pc - base)
		if base+uintptr(d) != pc {
			break
		}
		dst[n] = d
		n++
	}
	return n
}

// autogenerated is the File of compiler-generated wrappers (method value,
// promoted method and ABI wrappers).
const autogenerated = "<autogenerated>"

// isWrapper reports whether f is a wrapper runtime.Callers leaves out and
// frame pointers see: compiler-generated ones (above, and those of go and
// defer statements: pkg.f.gowrap1, ...) and reflect's call trampolines
// (runtime.call16, ...). Everything here leaves them out too.
func isWrapper(f *runtime.Frame) bool {
	if f.File == autogenerated {
		return true
	}
	fn := strings.TrimRight(f.Function, "0123456789")
	return strings.HasSuffix(fn, ".gowrap") || strings.HasSuffix(fn, ".deferwrap") || fn == "runtime.call"
}

// lookup resolves pc once; the *frameInfo it returns is shared and never
// changes, so its where string can be referred to without copying.
func lookup(pc uintptr) *frameInfo {
	if fi := frameTable[frameSlot(pc)].Load(); fi != nil && fi.pc == pc {
		return fi
	}
	return lookupSlow(pc)
}

// frameSlot is pc's index in frameTable: a multiplicative hash, as return
// addresses differ in their low bits and are not aligned.
func frameSlot(pc uintptr) uint64 {
	return uint64(pc) * 0x9e3779b97f4a7c15 >> (64 - frameTableBits)
}

// lookupSlow is lookup on a frameTable miss.
func lookupSlow(pc uintptr) *frameInfo {
	slot := &frameTable[frameSlot(pc)]
	if v, ok := frameCache.Load(pc); ok {
		fi := v.(*frameInfo)
		slot.Store(fi)
		return fi
	}
	frames := runtime.CallersFrames([]uintptr{pc})
	fi := &frameInfo{pc: pc, internal: true}
	for {
		f, more := frames.Next()
		if !isWrapper(&f) && !isInternal(f.Function) {
			fi = &frameInfo{pc: pc, where: shortFile(f.File) + ":" + strconv.Itoa(f.Line)}
			break
		}
		if !more {
			break
		}
	}
	v, _ := frameCache.LoadOrStore(pc, fi)
	fi = v.(*frameInfo)
	slot.Store(fi)
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
