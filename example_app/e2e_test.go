package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/replyrocket/gormsession/example_app/internal/apptest"
	"github.com/replyrocket/gormsession/example_app/internal/store"
	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// TestEndToEnd starts the built binary on a free port against SQLite,
// PostgreSQL and MariaDB and drives it as a client would: two instances on
// one database (the second with a dbresolver replica), the API's status
// codes, the worker sending every email exactly once (checked against the
// logging sender's SENT_LOG; every seventh send fails, to exercise retries),
// /metrics, /debug/db and /healthz; then SIGINT and SIGTERM while emails are
// being sent, a clean exit, and a third instance finishing the queue with
// nothing lost and nothing sent twice.
func TestEndToEnd(t *testing.T) {
	for _, kind := range testdb.All {
		t.Run(string(kind), func(t *testing.T) {
			url := apptest.URL(t, kind)
			sentLog := t.TempDir() + "/sent.txt"
			env := func(extra ...string) map[string]string {
				m := map[string]string{
					"DATABASE_URL": url, "ADDR": "127.0.0.1:0", "LOG_FORMAT": "json", "LOG_LEVEL": "info",
					"SENT_LOG": sentLog, "EMAIL_WORKERS": "2", "EMAIL_BATCH": "5", "EMAIL_POLL_INTERVAL": "50ms",
					"EMAIL_RETRY_BASE": "50ms", "EMAIL_MAX_ATTEMPTS": "50", "SENDER_DELAY": "10ms", "SENDER_FAIL_EVERY": "7",
				}
				for i := 0; i+1 < len(extra); i += 2 {
					m[extra[i]] = extra[i+1]
				}
				return m
			}
			a := start(t, "a", env())
			aURL := listening(t, a)
			b := start(t, "b", env("DATABASE_REPLICA_URLS", url))
			bURL := listening(t, b)
			c := newClient(t)

			// The API.
			const perCampaign = 30
			for i := range perCampaign {
				c.want(201, "POST", aURL+"/contacts", fmt.Sprintf(`{"email":"person%d@example.com","name":"Person %d"}`, i, i))
			}
			c.want(409, "POST", bURL+"/contacts", `{"email":"PERSON1@example.com","name":"dup"}`)
			c.want(422, "POST", aURL+"/contacts", `{"email":"nobody","name":"x"}`)
			c.want(400, "POST", aURL+"/contacts", `{"email":`)
			c.want(404, "GET", aURL+"/contacts/999999", "")
			var page struct{ Contacts []store.Contact }
			c.json(c.want(200, "GET", bURL+"/contacts?limit=500", ""), &page)
			if len(page.Contacts) != perCampaign {
				t.Errorf("GET /contacts on the instance with a replica: %d contacts, want %d", len(page.Contacts), perCampaign)
			}
			var ids []uint64
			for i, base := range []string{aURL, bURL, aURL} {
				var camp store.Campaign
				c.json(c.want(201, "POST", base+"/campaigns", fmt.Sprintf(`{"name":"c%d","subject":"Hello %d","body":"Hi."}`, i, i)), &camp)
				ids = append(ids, camp.ID)
			}
			c.want(404, "POST", aURL+"/campaigns/999999/enqueue", "")
			c.want(202, "POST", aURL+fmt.Sprintf("/campaigns/%d/enqueue", ids[0]), "")
			c.want(202, "POST", bURL+fmt.Sprintf("/campaigns/%d/enqueue", ids[1]), "")
			if body := c.want(202, "POST", bURL+fmt.Sprintf("/campaigns/%d/enqueue", ids[1]), ""); !strings.Contains(body, `"enqueued": 0`) {
				t.Errorf("enqueueing twice queued more: %s", body)
			}

			// The worker: both instances' workers send both campaigns.
			for _, id := range ids[:2] {
				waitFor(t, time.Minute, fmt.Sprintf("campaign %d sent", id), func() bool {
					var got struct{ Emails map[string]int }
					c.json(c.want(200, "GET", aURL+fmt.Sprintf("/campaigns/%d", id), ""), &got)
					return got.Emails[store.StatusSent] == perCampaign
				})
			}
			var email store.Email
			c.json(c.want(200, "GET", aURL+"/emails/1", ""), &email)
			if email.Status != store.StatusSent {
				t.Errorf("email 1: %+v", email)
			}

			// Health, metrics and the page.
			c.want(200, "GET", aURL+"/healthz", "")
			metrics := c.want(200, "GET", bURL+"/metrics", "")
			for _, m := range []string{"gormsession_scopes_opened_total", "gormsession_breaker_state", `app_http_requests_total{code="201",route="POST /campaigns"}`} {
				if !strings.Contains(metrics, m) {
					t.Errorf("/metrics lacks %s", m)
				}
			}
			if all := c.want(200, "GET", aURL+"/metrics", "") + metrics; !strings.Contains(all, `app_emails_total{outcome="retry"}`) {
				t.Error(`/metrics shows no app_emails_total{outcome="retry"}: SENDER_FAIL_EVERY should have caused retries`)
			}
			var page2 struct {
				Initialized bool `json:"initialized"`
				Breakers    []struct{ Source string }
			}
			c.json(c.want(200, "GET", bURL+"/debug/db?format=json", ""), &page2)
			sources := []string{}
			for _, br := range page2.Breakers {
				sources = append(sources, br.Source)
			}
			if !page2.Initialized || !slices.Contains(sources, "primary") || !slices.Contains(sources, "replica-1") {
				t.Errorf("/debug/db JSON of the instance with a replica: %+v (want breakers for primary and replica-1)", page2)
			}
			if html := c.want(200, "GET", aURL+"/debug/db", ""); !strings.Contains(html, "<html") {
				t.Errorf("/debug/db is not a page: %.100s", html)
			}

			// SIGINT and SIGTERM while the third campaign is being sent.
			c.want(202, "POST", aURL+fmt.Sprintf("/campaigns/%d/enqueue", ids[2]), "")
			db := openDirect(t, url)
			waitFor(t, time.Minute, "the third campaign's first send", func() bool {
				return statuses(t, db)[store.StatusSent] > 2*perCampaign
			})
			codes := make(chan int, 2)
			go func() { codes <- a.stopNoFatal(os.Interrupt) }()
			go func() { codes <- b.stopNoFatal(syscall.SIGTERM) }()
			for range 2 {
				if code := <-codes; code != 0 {
					t.Errorf("an instance exited %d after SIGTERM", code)
				}
			}
			for _, p := range []*proc{a, b} {
				if out := p.output(); !strings.Contains(out, `"msg":"stopped cleanly"`) {
					t.Errorf("%s did not log a clean stop", p.name)
				}
			}
			st := statuses(t, db)
			t.Logf("after SIGTERM: %v", st)
			if st[store.StatusSending] != 0 || st[store.StatusFailed] != 0 {
				t.Errorf("after a clean shutdown: %v (nothing may be left in sending)", st)
			}
			checkSent(t, db, sentLog, int(st[store.StatusSent]))

			// A third instance finishes the queue.
			d := start(t, "d", env("SENDER_FAIL_EVERY", "0"))
			listening(t, d)
			waitFor(t, time.Minute, "every email sent", func() bool { return statuses(t, db)[store.StatusSent] == 3*perCampaign })
			if code := d.stop(); code != 0 {
				t.Errorf("the third instance exited %d", code)
			}
			checkSent(t, db, sentLog, 3*perCampaign)
		})
	}
}

// listening waits for the "listening" log line and returns the address.
func listening(t *testing.T, p *proc) string {
	t.Helper()
	var addr string
	waitFor(t, 30*time.Second, p.name+" listening", func() bool {
		select {
		case <-p.done:
			t.Fatalf("%s exited before listening", p.name)
		default:
		}
		sc := bufio.NewScanner(strings.NewReader(p.output()))
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				addr = line.Addr
				return true
			}
		}
		return false
	})
	return "http://" + addr
}

// stopNoFatal sends sig and waits for the exit, for use off the test
// goroutine: it returns -1 instead of failing.
func (p *proc) stopNoFatal(sig os.Signal) int {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return -1
	}
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		return -1
	}
	if p.err == nil {
		return 0
	}
	return -1
}

// client is an HTTP client without keep-alive (no idle goroutines left).
type client struct {
	t *testing.T
	c *http.Client
}

func newClient(t *testing.T) *client {
	return &client{t: t, c: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
}

// want sends a request, requires the status, and returns the body.
func (c *client) want(status int, method, url, body string) string {
	c.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	res, err := c.c.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != status {
		c.t.Errorf("%s %s: %d, want %d; body %s", method, url, res.StatusCode, status, b)
	}
	return string(b)
}

func (c *client) json(body string, v any) {
	c.t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		c.t.Fatalf("decode %.200s: %v", body, err)
	}
}

func openDirect(t *testing.T, url string) *store.Store {
	t.Helper()
	st, err := store.Open(store.Options{URL: url, Session: sessionplugin.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func statuses(t *testing.T, st *store.Store) map[string]int64 {
	t.Helper()
	m, err := store.CountByStatus(st.DB.WithContext(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkSent compares the sender's record with the database: no email sent
// twice, want sent, and exactly those marked sent.
func checkSent(t *testing.T, st *store.Store, path string, want int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for _, line := range strings.Fields(string(b)) {
		id, err := strconv.ParseUint(line, 10, 64)
		if err != nil {
			t.Fatalf("SENT_LOG line %q", line)
		}
		if seen[id] {
			t.Errorf("email %d was sent twice", id)
		}
		seen[id] = true
	}
	if len(seen) != want {
		t.Errorf("%d emails sent, want %d", len(seen), want)
	}
	var sent []uint64
	st.DB.Model(&store.Email{}).Where("status = ?", store.StatusSent).Pluck("id", &sent)
	if len(sent) != len(seen) {
		t.Errorf("%d emails marked sent, %d sent", len(sent), len(seen))
	}
	for _, id := range sent {
		if !seen[id] {
			t.Errorf("email %d is marked sent but was never sent", id)
		}
	}
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testdb.WaitFor(t, d, what, cond)
}
