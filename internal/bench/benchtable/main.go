// Command benchtable prints BENCHMARKS.md's Results table from two files
// of raw `go test -bench` output: the side-by-side benchmarks (ns/op, B/op,
// allocs/op) and BenchmarkPaired (ratios).
//
//	go run ./internal/bench/benchtable side.txt paired.txt
//
// Each cell is the median over the runs of a benchmark, rounded half up;
// a ratio also gets the lowest and highest run. It exits with status 2 and
// a message naming the file when either cannot be read or holds no
// results.
package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var (
	sideLine   = regexp.MustCompile(`^Benchmark(\S+)-\d+\s+\d+\s+([\d.]+) ns/op\s+([\d.]+) B/op\s+([\d.]+) allocs/op`)
	pairedLine = regexp.MustCompile(`^BenchmarkPaired/(\S+)-\d+\s.*\s([\d.]+) ratio`)
)

var (
	workloadOrder = []string{"First/ctx=background", "First/ctx=request", "Create", "Tx3", "Rows1000", "ParallelFirst/g=1", "ParallelFirst/g=8", "ParallelFirst/g=64"}
	dbOrder       = []string{"sqlite", "postgres"}
	variantOrder  = []string{"bare", "defaults", "all", "otel", "prom", "bare+tx", "defaults+tx", "all+tx"}
)

// row is one side-by-side benchmark's medians and the paired result it
// goes with.
type row struct {
	workload, db, variant string
	ns, bytes, allocs     float64
	paired                string // BenchmarkPaired's name for it
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: benchtable side.txt paired.txt")
		os.Exit(2)
	}
	side, err := read(os.Args[1], sideLine)
	if err != nil {
		fail(err)
	}
	paired, err := read(os.Args[2], pairedLine)
	if err != nil {
		fail(err)
	}
	rows, err := build(side)
	if err != nil {
		fail(err)
	}
	fmt.Print(render(rows, paired))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchtable:", err)
	os.Exit(2)
}

// read collects, per benchmark name, the numbers re captures after the
// name, one slice per run.
func read(path string, re *regexp.Regexp) (map[string][][]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string][][]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := re.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		var vals []float64
		for _, s := range m[2:] {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %q: %w", path, sc.Text(), err)
			}
			vals = append(vals, v)
		}
		out[m[1]] = append(out[m[1]], vals)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no benchmark results in it", path)
	}
	return out, nil
}

// build turns side-by-side results (First/ctx=request/db=sqlite/v=bare)
// into rows, in the table's order.
func build(side map[string][][]float64) ([]row, error) {
	var rows []row
	for name, runs := range side {
		var plain []string
		kv := map[string]string{}
		for _, seg := range strings.Split(name, "/") {
			if k, v, ok := strings.Cut(seg, "="); ok {
				kv[k] = v
			} else {
				plain = append(plain, seg)
			}
		}
		if len(plain) == 0 || kv["db"] == "" || kv["v"] == "" {
			return nil, fmt.Errorf("benchmark %q: want Workload/.../db=X/v=Y", name)
		}
		r := row{workload: plain[0], db: kv["db"], variant: kv["v"]}
		r.ns, r.bytes, r.allocs = median(column(runs, 0)), median(column(runs, 1)), median(column(runs, 2))
		switch {
		case r.workload == "Tx3" && strings.HasSuffix(r.variant, "+tx"):
			r.paired = fmt.Sprintf("db=%s/Tx3/api=Transaction/v=%s", r.db, strings.TrimSuffix(r.variant, "+tx"))
		case r.workload == "Tx3":
			r.paired = fmt.Sprintf("db=%s/Tx3/api=db.Transaction/v=%s", r.db, r.variant)
		case kv["ctx"] != "":
			r.workload += "/ctx=" + kv["ctx"]
			r.paired = fmt.Sprintf("db=%s/%s/v=%s", r.db, r.workload, r.variant)
		case kv["g"] != "":
			r.workload += "/g=" + kv["g"]
			r.paired = fmt.Sprintf("db=%s/%s/v=%s", r.db, r.workload, r.variant)
		default:
			r.paired = fmt.Sprintf("db=%s/%s/v=%s", r.db, r.workload, r.variant)
		}
		rows = append(rows, r)
	}
	key := func(r row) []int {
		return []int{rank(workloadOrder, r.workload), rank(dbOrder, r.db), rank(variantOrder, r.variant)}
	}
	slices.SortFunc(rows, func(a, b row) int { return slices.Compare(key(a), key(b)) })
	return rows, nil
}

// rank is s's place in order; names not in it go last.
func rank(order []string, s string) int {
	if i := slices.Index(order, s); i >= 0 {
		return i
	}
	return len(order)
}

func render(rows []row, paired map[string][][]float64) string {
	base := map[string]row{}
	for _, r := range rows {
		if r.variant == "bare" {
			base[r.workload+"|"+r.db] = r
		}
	}
	var b strings.Builder
	b.WriteString("| workload | db | variant | ns/op | ratio (paired median) | B/op | Δ B/op | allocs/op | Δ allocs |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		ratio, dBytes, dAllocs := "1", "", ""
		if r.variant != "bare" {
			ratio = "—"
			if runs := paired[r.paired]; len(runs) > 0 {
				rs := column(runs, 0)
				ratio = fmt.Sprintf("%s (%s–%s)", roundHalfUp(median(rs), 3), roundHalfUp(slices.Min(rs), 2), roundHalfUp(slices.Max(rs), 2))
			}
			if bare, ok := base[r.workload+"|"+r.db]; ok {
				dBytes = count(halfUp(r.bytes)-halfUp(bare.bytes), true)
				dAllocs = count(r.allocs-bare.allocs, true)
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %.0f | %s | %s | %s |\n",
			r.workload, r.db, r.variant, duration(r.ns), ratio, halfUp(r.bytes), dBytes, count(r.allocs, false), dAllocs)
	}
	return b.String()
}

func column(runs [][]float64, i int) []float64 {
	out := make([]float64, len(runs))
	for j, r := range runs {
		out[j] = r[i]
	}
	return out
}

// median of xs, the mean of the middle two for an even count; xs is not
// empty (read drops names without results).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// halfUp rounds to an integer, halves up; a small epsilon keeps a median
// such as 1031.5 (stored as 1031.4999…) from rounding down.
func halfUp(x float64) float64 { return math.Floor(x + 0.5 + 1e-9) }

func roundHalfUp(x float64, digits int) string {
	p := math.Pow(10, float64(digits))
	return strconv.FormatFloat(halfUp(x*p)/p, 'f', digits, 64)
}

// count prints a median of whole counts, which is whole or ends in .5;
// sign adds a + to a positive one.
func count(x float64, sign bool) string {
	f := "%.0f"
	if x != math.Trunc(x) {
		f = "%.1f"
	}
	if sign {
		f = "%+" + f[1:]
	}
	return fmt.Sprintf(f, x)
}

func duration(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}
