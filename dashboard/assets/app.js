// hoox dashboard: progressive enhancement only. Every page works without this file; with it,
// forms marked data-confirm ask first, the live feed polls feed.json every second, and the
// equity chart is drawn with uPlot from the page's JSON data block. No eval, no inline code
// (the Content-Security-Policy forbids both).
"use strict";
(function () {
  var base = document.body.getAttribute("data-base") || "";

  // Confirmations: a form (or its submit button) with data-confirm asks before submitting.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var btn = ev.submitter;
    var msg = (btn && btn.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) {
      ev.preventDefault();
    }
  });

  function text(tag, cls, s) {
    var el = document.createElement(tag);
    if (cls) el.className = cls;
    el.textContent = s;
    return el;
  }

  function when(ms) {
    return new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }

  // Live feed: new signals, their outcomes, dead letters and operator actions.
  var feed = document.getElementById("feed");
  if (feed) {
    var state = document.getElementById("feed-state");
    var cursor = null;
    var seen = {};
    var add = function (at, kind, tone, line, href) {
      var li = document.createElement("li");
      li.className = tone;
      li.setAttribute("data-kind", kind);
      li.appendChild(text("time", "", when(at)));
      li.appendChild(document.createTextNode(" "));
      li.appendChild(text("strong", "", kind));
      li.appendChild(document.createTextNode(" "));
      if (href) {
        var a = text("a", "", line);
        a.href = href;
        li.appendChild(a);
      } else {
        li.appendChild(document.createTextNode(line));
      }
      feed.insertBefore(li, feed.firstChild);
      while (feed.children.length > 100) feed.removeChild(feed.lastChild);
    };
    var tone = function (o) {
      return o === "filled" ? "good" : o === "rejected" || o === "failed" ? "bad" : "warn";
    };
    var poll = function () {
      var url = feed.getAttribute("data-src") + (cursor ? "?cursor=" + encodeURIComponent(cursor) : "");
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) {
          if (r.status === 401) {
            state.textContent = "Session ended: log in again to resume the feed.";
            return null;
          }
          return r.ok ? r.json() : null;
        })
        .then(function (f) {
          if (!f) return;
          (f.signals || []).forEach(function (s) {
            var id = s.idempotency_key + "@" + s.updated_at_ms;
            if (seen[id]) return;
            seen[id] = true;
            add(s.updated_at_ms, "signal", tone(s.outcome),
              s.action + " " + s.quantity + " " + s.symbol + " on " + s.exchange + ": " + s.outcome,
              base + "/signals/" + encodeURIComponent(s.idempotency_key));
          });
          (f.dead_letters || []).forEach(function (d) {
            add(d.created_at_ms, "dead letter", "bad",
              "#" + d.id + " " + d.reason + " " + (d.symbol || ""), base + "/dead-letters/" + d.id);
          });
          (f.audit || []).forEach(function (a) {
            add(a.at_ms, "operator", "neutral", a.action + " by " + a.actor + " on " + a.target, null);
          });
          cursor = f.next.signals_ms + "." + f.next.dead_letters_ms + "." + f.next.audit_id;
          state.textContent = "Live: updated " + when(Date.now());
          state.setAttribute("data-live", "1");
        })
        .catch(function () {
          state.textContent = "Live feed unreachable; retrying.";
        });
    };
    poll();
    setInterval(poll, 1000);
  }

  // Equity chart: one line per network (mainnet, testnet, paper).
  var chart = document.getElementById("equity-chart");
  var data = document.getElementById("equity-data");
  if (chart && data && window.uPlot) {
    var series = JSON.parse(data.textContent || "[]");
    if (series.length === 0) {
      chart.appendChild(text("p", "muted", "No daily equity snapshot yet."));
    } else {
      var days = {};
      series.forEach(function (s) { s.days.forEach(function (d) { days[d] = true; }); });
      var xs = Object.keys(days).sort();
      var cols = [xs.map(function (d) { return Date.parse(d + "T00:00:00Z") / 1000; })];
      var colours = ["#2563eb", "#d97706", "#059669", "#7c3aed"];
      var opts = {
        width: Math.min(chart.clientWidth || 800, 1100),
        height: 260,
        // One day alone: uPlot 1.6.32 widens a single time point by 86400 / ms seconds (1000
        // days); show a week around it instead.
        scales: { x: { time: true, range: function (u, min, max) {
          var t = cols[0];
          return t.length === 1 ? [t[0] - 3 * 86400, t[0] + 3 * 86400] : [min, max];
        } } },
        series: [{}],
        axes: [{}, { label: "USDT" }],
      };
      series.forEach(function (s, i) {
        var byDay = {};
        s.days.forEach(function (d, j) { byDay[d] = Number(s.equity[j]); });
        cols.push(xs.map(function (d) { return d in byDay ? byDay[d] : null; }));
        opts.series.push({ label: s.network, stroke: colours[i % colours.length], width: 2, spanGaps: true });
      });
      new window.uPlot(opts, cols, chart);
      chart.setAttribute("data-drawn", String(xs.length));
    }
  }
})();
