package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/replyrocket/gormsession/example_app/internal/config"
)

// binDir holds the binary the tests build once and run as a user would.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "example_app-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { os.RemoveAll(dir) }))
}

var (
	buildOnce sync.Once
	buildErr  error
)

// binary builds ./example_app (once per test run) and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "example_app")
	buildOnce.Do(func() {
		gobin, err := exec.LookPath("go")
		if err != nil {
			gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bin
}

// baseEnv is the test's environment without any variable the app reads, so
// a developer's own settings cannot change what the tests see.
func baseEnv() []string {
	ours := map[string]bool{}
	for _, v := range append(append([]config.Var{}, config.AppVars...), config.PluginVars...) {
		ours[v.Name] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !ours[k] {
			env = append(env, kv)
		}
	}
	return env
}

// proc is a running example_app.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	log  string // path of its combined stdout and stderr
	done chan struct{}
	err  error // cmd.Wait's result, once done is closed
}

// start runs the binary with args and env (on top of baseEnv); it is killed
// at cleanup if still running, and its output is shown if the test failed.
func start(t *testing.T, name string, env map[string]string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, log: filepath.Join(t.TempDir(), name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p.cmd = exec.Command(binary(t), args...)
	p.cmd.Env = baseEnv()
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("--- %s output (last 60 lines):\n%s", p.name, tail(p.output(), 60))
		}
	})
	return p
}

func (p *proc) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// wait waits up to d for the process to exit and returns its exit code.
func (p *proc) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		p.t.Fatalf("%s did not exit within %s", p.name, d)
	}
	if p.err == nil {
		return 0
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	p.t.Fatalf("%s: %v", p.name, p.err)
	return -1
}

// stop sends SIGTERM and returns the exit code.
func (p *proc) stop() int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("SIGTERM %s: %v", p.name, err)
	}
	return p.wait(time.Minute)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func TestHelp(t *testing.T) {
	p := start(t, "help", nil, "-h")
	if code := p.wait(time.Minute); code != 0 {
		t.Errorf("-h exited %d", code)
	}
	for _, want := range []string{"DATABASE_URL", "DATABASE_REPLICA_URLS", "DB_POOL_SIZE", "DB_BREAKER_OPEN_TIMEOUT", "demo"} {
		if !strings.Contains(p.output(), want) {
			t.Errorf("-h does not mention %s", want)
		}
	}
	p = start(t, "bad-command", nil, "nosuch")
	if code := p.wait(time.Minute); code != 2 {
		t.Errorf("an unknown command exited %d, want 2", code)
	}
	p = start(t, "bad-env", map[string]string{"DB_POOL_SIZE": "five", "DATABASE_URL": "redis://x"})
	if code := p.wait(time.Minute); code == 0 {
		t.Error("bad settings exited 0")
	}
	if out := p.output(); !strings.Contains(out, "DB_POOL_SIZE") {
		t.Errorf("the error does not name DB_POOL_SIZE: %s", out)
	}
}
