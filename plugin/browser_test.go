package sessionplugin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// newBrowser starts headless Chromium with a fresh profile and returns a
// chromedp context on it; the browser is closed at cleanup. Without
// Chromium the test is skipped, or fails when CI=true.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		msg := "headless Chromium not found at " + chromiumPath + " (install it: apt-get install -y chromium)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI=true makes this a failure")
		}
		t.Skip(msg + "; CI=true makes this a failure")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		defer ccancel()
		if err := chromedp.Cancel(cctx); err != nil {
			t.Logf("closing Chromium: %v", err)
		}
		cancel()
		allocCancel() // waits for the browser process to exit
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// TestBrowserPageShowsLongRunning loads the /debug/db page in headless
// Chromium, opens a transaction after the page was rendered, and waits for
// the page's own refresh to show it, marked long-running, with its caller.
func TestBrowserPageShowsLongRunning(t *testing.T) {
	browser := newBrowser(t)
	for _, kind := range []testdb.Kind{testdb.SQLite, testdb.Postgres} {
		t.Run(string(kind), func(t *testing.T) {
			db, p, _ := install(t, kind, func(c *sessionplugin.Config) { c.LongRunningThreshold = 100 * time.Millisecond })
			mux := http.NewServeMux()
			mux.Handle("/debug/db/", http.StripPrefix("/debug/db", p.Handler()))
			srv := httptest.NewServer(mux)
			defer srv.Close()

			tab, closeTab := chromedp.NewContext(browser)
			defer closeTab()
			ctx, cancel := context.WithTimeout(tab, 30*time.Second)
			defer cancel()
			if err := chromedp.Do(tab); err != nil { // opens the tab
				t.Fatal(err)
			}
			if err := chromedp.Do(ctx,
				chromedp.Navigate(srv.URL+"/debug/db/"),
				chromedp.WaitVisible("#active-scopes"),
			); err != nil {
				t.Fatalf("load page: %v", err)
			}
			first, err := chromedp.Run(ctx, chromedp.TextContent("#active-scopes tbody"))
			if err != nil || !strings.Contains(first, "No scope open.") {
				t.Fatalf("page before the transaction: %q, %v", first, err)
			}

			tx := db.Begin() // the caller the page must show
			if tx.Error != nil {
				t.Fatal(tx.Error)
			}
			defer tx.Rollback()
			var caller string
			for _, si := range p.ActiveScopes() {
				if si.Operation == "transaction" {
					caller = si.Caller
				}
			}
			if !strings.Contains(caller, "browser_test.go:") {
				t.Fatalf("transaction caller %q, want this file; scopes %+v", caller, p.ActiveScopes())
			}

			// The page refreshes itself; wait for the row, long-running.
			quoted, _ := json.Marshal(caller)
			row, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => {
				for (const tr of document.querySelectorAll("#active-scopes tbody tr.long-running")) {
					if (tr.textContent.includes(`+string(quoted)+`) && tr.querySelector(".badge") &&
						tr.getBoundingClientRect().height > 0) return tr.outerHTML;
				}
				return false;
			})()`, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second)))
			if err != nil {
				html, _ := chromedp.Run(context.WithoutCancel(tab), chromedp.OuterHTML("main"))
				t.Fatalf("page never showed %s as long-running: %v\n%s", caller, err, html)
			}
			if !strings.Contains(row, "transaction") || !strings.Contains(row, ">long-running<") {
				t.Errorf("row %s", row)
			}
			refreshed, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.dataset.refreshed || ""`))
			if err != nil || refreshed == "" {
				t.Errorf("the script did not mark a refresh (%q, %v)", refreshed, err)
			}
			// The script formats durations as the server does.
			if th, err := chromedp.Run(ctx, chromedp.TextContent("#long-running-threshold")); err != nil || th != "100ms" {
				t.Errorf("threshold after refresh %q (%v), want 100ms as the server renders it", th, err)
			}
			if path := os.Getenv("GORMSESSION_PAGE_SCREENSHOT"); path != "" {
				if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
					os.WriteFile(path+"-"+string(kind)+".png", png, 0o644)
				}
			}

			// Once the transaction ends, the next refresh drops it.
			if err := tx.Rollback().Error; err != nil {
				t.Fatal(err)
			}
			if _, err := chromedp.Run(ctx, chromedp.Poll[bool](
				`document.querySelector("#active-scopes tbody").textContent.includes("No scope open.")`,
				chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second))); err != nil {
				t.Errorf("page kept the ended transaction: %v", err)
			}
		})
	}
}
