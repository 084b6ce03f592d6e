package config

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPluginVarsMatchDocs keeps -h in step with the variables
// sessionplugin.ConfigFromEnv reads, as docs/config.md lists them.
func TestPluginVarsMatchDocs(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/config.md")
	if err != nil {
		t.Fatalf("read docs/config.md: %v", err)
	}
	documented := regexp.MustCompile("`(DB_[A-Z_]+)`").FindAllStringSubmatch(string(doc), -1)
	want := map[string]bool{}
	for _, m := range documented {
		want[m[1]] = true
	}
	var have []string
	for _, v := range PluginVars {
		have = append(have, v.Name)
		if !want[v.Name] {
			t.Errorf("-h lists %s, which docs/config.md does not document", v.Name)
		}
	}
	for name := range want {
		if !slices.Contains(have, name) {
			t.Errorf("docs/config.md documents %s, which -h does not list", name)
		}
	}
	usage := Usage("example_app")
	for _, v := range append(slices.Clone(AppVars), PluginVars...) {
		if !strings.Contains(usage, v.Name) {
			t.Errorf("Usage does not mention %s", v.Name)
		}
	}
}

func TestDefaults(t *testing.T) {
	c, err := fromLookup(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if !c.DefaultedURL || !strings.HasPrefix(c.DatabaseURL, "sqlite:") {
		t.Errorf("DatabaseURL = %q (defaulted %v), want the SQLite default", c.DatabaseURL, c.DefaultedURL)
	}
	if c.Workers != 2 || c.RequestTimeout != 10*time.Second || c.Session.PoolSize != 5 {
		t.Errorf("defaults: %+v", c)
	}
}

func TestEnv(t *testing.T) {
	env := map[string]string{
		"DATABASE_URL":          "postgres://x@h/db",
		"DATABASE_REPLICA_URLS": " postgres://x@r1/db , ,postgres://x@r2/db",
		"EMAIL_WORKERS":         "0",
		"EMAIL_RETRY_BASE":      "0.25",
		"REQUEST_TIMEOUT":       "3s",
	}
	c, err := fromLookup(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if c.DefaultedURL || len(c.ReplicaURLs) != 2 || c.ReplicaURLs[1] != "postgres://x@r2/db" || c.Workers != 0 ||
		c.RetryBase != 250*time.Millisecond || c.RequestTimeout != 3*time.Second {
		t.Errorf("got %+v", c)
	}
}

// TestBadEnv: every bad variable is named in the one error, the plugin's
// included.
func TestBadEnv(t *testing.T) {
	t.Setenv("DB_POOL_SIZE", "five")
	env := map[string]string{"EMAIL_WORKERS": "-1", "REQUEST_TIMEOUT": "soon", "LOG_FORMAT": "xml"}
	_, err := fromLookup(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err == nil {
		t.Fatal("no error")
	}
	for _, name := range []string{"EMAIL_WORKERS", "REQUEST_TIMEOUT", "LOG_FORMAT", "DB_POOL_SIZE"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}
