package demo

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"

	"go.uber.org/zap/zaptest/observer"
)

// render prints one log entry as its level, logger, message and fields as
// JSON, the way a JSON log line reads; a stack is cut to its first frames.
func render(le observer.LoggedEntry) string {
	ctx := le.ContextMap()
	for _, f := range le.Context {
		if f.Type == zapcore.DurationType { // JSON logs carry nanoseconds; people read 1.2s
			ctx[f.Key] = time.Duration(f.Integer).String()
		}
	}
	if s, ok := ctx["stack"].(string); ok {
		lines := strings.Split(strings.TrimSpace(s), "\n")
		if len(lines) > 4 {
			ctx["stack"] = strings.Join(lines[:4], " | ") + fmt.Sprintf(" | … (%d more lines)", len(lines)-4)
		}
	}
	b, err := json.Marshal(ctx)
	if err != nil {
		b = []byte(fmt.Sprint(ctx))
	}
	return fmt.Sprintf("%-5s %s  %q %s", strings.ToUpper(le.Level.String()), le.LoggerName, le.Message, b)
}

// wrap breaks s into lines of at most width runes, continuing lines with
// indent.
func wrap(s string, width int, indent string) string {
	var b strings.Builder
	n := 0
	for i, w := range strings.Fields(s) {
		if i > 0 {
			if n+1+len(w) > width {
				b.WriteString("\n" + indent)
				n = len(indent)
			} else {
				b.WriteByte(' ')
				n++
			}
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}

func plural(n int, noun string) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}
