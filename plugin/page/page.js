// Refreshes the server-rendered page every 2s from the same URL's JSON
// (?format=json, relative so the page works under any prefix). Builds DOM
// nodes with textContent only: no HTML from the server is interpreted.
(function () {
  "use strict";
  var INTERVAL = 2000;

  // fmtDur matches handler.go's fmtSeconds.
  function fmtDur(s) {
    function num(v, digits) { return String(+v.toFixed(digits)); }
    if (!(s > 0)) return "0";
    if (s < 1e-6) return num(s * 1e9, 0) + "ns";
    if (s < 1e-3) return num(s * 1e6, 0) + "\u00b5s";
    if (s < 1) return num(s * 1e3, 1) + "ms";
    if (s < 60) return num(s, 2) + "s";
    var m = Math.floor(Math.floor(s) / 60), r = Math.floor(s) - 60 * m;
    return m + "m" + (r < 10 ? "0" : "") + r + "s";
  }

  // fmtTime matches handler.go's fmtTime.
  function fmtTime(iso) {
    var d = new Date(iso);
    return isNaN(d) ? String(iso) : d.toISOString().slice(0, 19).replace("T", " ") + " UTC";
  }

  // h builds an element; children are strings (text) or nodes.
  function h(tag, attrs) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== false) el.setAttribute(k, attrs[k]);
    });
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === "") continue;
      el.append(c instanceof Node ? c : String(c));
    }
    return el;
  }

  function fill(id, items, row, empty, cols) {
    var tbody = document.querySelector("#" + id + " tbody");
    if (!tbody) return;
    var rows = items && items.length ? items.map(row)
      : [h("tr", { "class": "empty" }, h("td", { colspan: cols }, empty))];
    tbody.replaceChildren.apply(tbody, rows);
  }

  function pools(p) {
    var max = p.max_open || p.open;
    return h("tr", null, h("th", { scope: "row" }, p.source),
      h("td", null, h("meter", { min: 0, max: max, value: p.in_use, "aria-hidden": "true" }), " ",
        h("span", null, p.in_use + " / " + (p.max_open || "unlimited"))),
      h("td", null, p.idle), h("td", null, p.open),
      h("td", p.waiting ? { "class": "warn" } : null, p.waiting),
      h("td", null, p.wait_count), h("td", null, fmtDur(p.wait_duration_seconds)));
  }

  function breakers(b) {
    return h("tr", null, h("th", { scope: "row" }, b.source),
      h("td", null, h("span", { "class": "state state-" + b.state }, b.state)),
      h("td", null, b.mode), h("td", null, fmtTime(b.since)), h("td", null, b.transitions),
      h("td", null, b.consecutive_failures),
      h("td", null, b.reason + (b.retry_in_seconds > 0 ? " (retry in " + fmtDur(b.retry_in_seconds) + ")" : "")));
  }

  function scopes(s) {
    var cls = [s.long_running ? "long-running" : "", s.idle_in_tx ? "idle-in-tx" : ""].join(" ").trim();
    var flags = h("td", null);
    if (s.long_running) flags.append(h("strong", { "class": "badge" }, "long-running"), " ");
    if (s.idle_in_tx) {
      flags.append(h("strong", { "class": "badge" }, "idle in transaction"));
      if (s.last_statement) flags.append(" ", h("span", { "class": "sub" }, "last statement at ", h("code", null, s.last_statement)));
    }
    return h("tr", { "data-scope-id": s.id, "class": cls || null },
      h("td", null, String(s.id), s.tx_id ? " " : "", s.tx_id ? h("span", { "class": "sub" }, "in tx " + s.tx_id) : ""),
      h("td", null, s.operation), h("td", null, s.table), h("td", null, s.source),
      caller(s), h("td", null, fmtDur(s.age_seconds)), flags);
  }

  // caller: where the scope was opened, then the request's log fields.
  function caller(s) {
    var td = h("td", null, h("code", null, s.caller));
    Object.keys(s.fields || {}).sort().forEach(function (k) {
      td.append(" ", h("span", { "class": "sub field" }, k + "=" + s.fields[k]));
    });
    return td;
  }

  function durations(d) {
    return h("tr", null, h("th", { scope: "row" }, d.source), h("td", null, d.operation), h("td", null, d.count),
      h("td", null, fmtDur(d.p50_seconds)), h("td", null, fmtDur(d.p95_seconds)), h("td", null, fmtDur(d.p99_seconds)));
  }

  function render(d) {
    var t = document.getElementById("generated-at");
    t.setAttribute("datetime", d.generated_at);
    t.textContent = fmtTime(d.generated_at);
    document.querySelectorAll("#summary [data-field]").forEach(function (dd) {
      dd.textContent = d.scopes[dd.getAttribute("data-field")];
    });
    document.getElementById("long-running-threshold").textContent = fmtDur(d.config.long_running_threshold_seconds);
    document.getElementById("idle-threshold").textContent = fmtDur(d.config.idle_in_tx_threshold_seconds);
    fill("pools", d.pools, pools, "No pool yet.", 7);
    fill("breakers", d.breakers, breakers, "No breaker yet.", 7);
    fill("active-scopes", d.active_scopes, scopes, "No scope open.", 7);
    var errs = Object.keys(d.errors || {}).sort().map(function (k) { return [k, d.errors[k]]; });
    fill("errors", errs, function (e) {
      return h("tr", null, h("th", { scope: "row" }, e[0]), h("td", null, e[1]));
    }, "No error so far.", 2);
    fill("durations", d.durations, durations, "No scope has ended yet.", 6);
  }

  var status = document.getElementById("refresh-status");
  var errorBox = document.getElementById("refresh-error");
  status.textContent = "Refreshes every 2 s.";

  function tick() {
    fetch("?format=json", { headers: { Accept: "application/json" }, cache: "no-store", credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (d) {
        render(d);
        status.textContent = "Refreshes every 2 s.";
        errorBox.hidden = true;
        document.body.setAttribute("data-refreshed", d.generated_at);
      })
      .catch(function (e) {
        errorBox.textContent = "Refresh failed (" + e.message + "); retrying in 2 s. The figures below may be stale.";
        errorBox.hidden = false;
      })
      .then(function () { setTimeout(tick, INTERVAL); });
  }
  setTimeout(tick, INTERVAL);
})();
