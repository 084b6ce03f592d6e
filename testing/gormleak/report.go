package gormleak

import (
	"go/token"
	"strings"

	"golang.org/x/tools/go/analysis"
)

// ignoreDirective, in a comment on the reported line or the line above it,
// silences a report: for a leak that is on purpose, such as a test of a
// leak detector. Text after it is a free-form reason.
const ignoreDirective = "//gormleak:ignore"

// report reports msg at pos unless an ignore directive covers that line.
func report(pass *analysis.Pass, pos token.Pos, category, msg string) {
	if ignored(pass, pos) {
		return
	}
	pass.Report(analysis.Diagnostic{Pos: pos, Category: category, Message: msg})
}

// ignored reports whether a //gormleak:ignore comment sits on the line of
// pos or on the line above it.
func ignored(pass *analysis.Pass, pos token.Pos) bool {
	tf := pass.Fset.File(pos)
	if tf == nil {
		return false
	}
	line := tf.Line(pos)
	for _, f := range pass.Files {
		if pass.Fset.File(f.Pos()) != tf {
			continue
		}
		for _, cg := range f.Comments {
			for _, c := range cg.List {
				if !strings.HasPrefix(c.Text, ignoreDirective) {
					continue
				}
				if l := tf.Line(c.Pos()); l == line || l == line-1 {
					return true
				}
			}
		}
	}
	return false
}
