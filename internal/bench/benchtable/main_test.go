package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoundHalfUp(t *testing.T) {
	for _, tc := range []struct {
		x      float64
		digits int
		want   string
	}{
		{median([]float64{1.031, 1.032}), 3, "1.032"}, // a median of two runs: half, up
		{median([]float64{1.003, 1.004}), 3, "1.004"}, // computed as 1.00349999…
		{1.0314, 3, "1.031"},
		{1.0316, 3, "1.032"},
		{0.9835, 3, "0.984"},
		{1.105, 2, "1.11"},
		{1, 3, "1.000"},
	} {
		if got := roundHalfUp(tc.x, tc.digits); got != tc.want {
			t.Errorf("roundHalfUp(%v, %d) = %s, want %s", tc.x, tc.digits, got, tc.want)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(tc.xs); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
}

func TestBuildNamesThePairedResult(t *testing.T) {
	one := [][]float64{{1000, 100, 10}}
	side := map[string][][]float64{
		"First/ctx=request/db=sqlite/v=defaults": one,
		"Tx3/db=postgres/v=all+tx":               one,
		"Tx3/db=postgres/v=all":                  one,
		"ParallelFirst/g=8/db=sqlite/v=otel":     one,
		"Rows1000/db=postgres/v=prom":            one,
	}
	rows, err := build(side)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"First/ctx=request|defaults": "db=sqlite/First/ctx=request/v=defaults",
		"Tx3|all+tx":                 "db=postgres/Tx3/api=Transaction/v=all",
		"Tx3|all":                    "db=postgres/Tx3/api=db.Transaction/v=all",
		"ParallelFirst/g=8|otel":     "db=sqlite/ParallelFirst/g=8/v=otel",
		"Rows1000|prom":              "db=postgres/Rows1000/v=prom",
	}
	for _, r := range rows {
		if got, w := r.paired, want[r.workload+"|"+r.variant]; got != w {
			t.Errorf("%s %s: paired name %q, want %q", r.workload, r.variant, got, w)
		}
	}
	if _, err := build(map[string][][]float64{"First/v=bare": one}); err == nil {
		t.Error("build accepted a name without db=")
	}
}

func TestRenderRow(t *testing.T) {
	rows, err := build(map[string][][]float64{
		"Create/db=sqlite/v=bare":     {{1000, 100, 10}, {3000, 100, 11}},
		"Create/db=sqlite/v=defaults": {{2000, 150, 12}, {2000, 150, 12}},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := render(rows, map[string][][]float64{"db=sqlite/Create/v=defaults": {{1.0314}, {1.0316}, {1.05}}})
	for _, want := range []string{
		"| Create | sqlite | bare | 2.0 µs | 1 | 100 |  | 10.5 |  |",
		"| Create | sqlite | defaults | 2.0 µs | 1.032 (1.03–1.05) | 150 | +50 | 12 | +1.5 |",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("render output lacks %q:\n%s", want, out)
		}
	}
}

func TestReadRejectsAFileWithoutResults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.txt")
	if err := os.WriteFile(path, []byte("PASS\nok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := read(path, sideLine)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("read = %v, want an error naming %s", err, path)
	}
	m, err := read(writeFile(t, "BenchmarkPaired/db=sqlite/Create/v=all-2 \t 10\t 5 ns/op\t 1.25 ratio\n"), pairedLine)
	if err != nil || len(m["db=sqlite/Create/v=all"]) != 1 || m["db=sqlite/Create/v=all"][0][0] != 1.25 {
		t.Fatalf("read paired = %v, %v", m, err)
	}
}

func writeFile(t *testing.T, s string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out.txt")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
