// The dashboard page: polls /dashboard/api/overview and draws it (uPlot charts, plain tables).
"use strict";
const $ = (id) => document.getElementById(id);
const usd = (x) => (x === null || x === undefined ? "unknown" : "$" + (x < 0.01 && x > 0 ? x.toPrecision(3) : x.toFixed(4)));
const int = (x) => (x === null || x === undefined ? "-" : Math.round(x).toLocaleString("en-US"));
const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#65a30d"];
const charts = {};
let last;

function refreshMs() {
  const q = new URLSearchParams(location.search).get("refresh");
  return q ? Number(q) : 2000;
}

function draw(id, xs, named, units) {
  const el = $(id);
  const names = Object.keys(named);
  const data = [xs.map((t) => t / 1000), ...names.map((n) => named[n])];
  const key = names.join("|");
  const width = Math.max(300, el.clientWidth);
  if (charts[id] && charts[id].key === key) {
    charts[id].plot.setData(data);
    return;
  }
  if (charts[id]) charts[id].plot.destroy();
  const opts = {
    width,
    height: 220,
    series: [{}, ...names.map((n, i) => ({ label: n, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: true }))],
    // small dollar amounts would all read "0" in uPlot's default ticks
    axes: [{}, { label: units, size: 70, values: (u, vals) => vals.map((v) => (v === 0 ? "0" : Math.abs(v) < 0.01 ? v.toPrecision(2) : String(+v.toFixed(2)))) }],
    scales: { x: { time: true } },
  };
  charts[id] = { key, plot: new uPlot(opts, data, el) };
}

function rows(tbody, list, cells) {
  const body = $(tbody).querySelector("tbody");
  body.replaceChildren(
    ...list.map((item) => {
      const tr = document.createElement("tr");
      for (const [text, cls] of cells(item)) {
        const td = document.createElement("td");
        td.textContent = text;
        if (cls) td.className = cls;
        tr.appendChild(td);
      }
      if (item.request_id) tr.dataset.requestId = item.request_id;
      return tr;
    }),
  );
}

function render(o) {
  last = o;
  $("total-cost").textContent = usd(o.totals.cost_usd);
  $("total-requests").textContent = int(o.totals.requests);
  const s = o.savings;
  $("total-saved").textContent = usd(o.totals.saved_usd + s.cascade_saved_usd);
  $("total-output").textContent = int(o.totals.tokens.output);
  for (const k of Object.keys(o.totals.tokens)) $("tok-" + k).textContent = int(o.totals.tokens[k]);
  draw("chart-cost", o.series.t, o.series[$("cost-by").value], "USD");
  draw("chart-tokens", o.series.t, o.series.tokens, "tokens");
  draw("chart-latency", o.series.t, o.series[$("latency-of").value], "ms");
  draw("chart-throughput", o.series.t, { "output tokens/s": o.series.output_tokens_per_second, requests: o.series.requests }, "per bucket");
  rows("savings", [
    ["prefix cache", usd(s.prefix_cache_usd)],
    ["response cache (" + s.response_cache_hits + " hits)", usd(s.response_cache_usd)],
    ["cascades accepted small (" + s.cascade_accepted + "; escalated " + s.cascade_escalated + ")", usd(s.cascade_saved_usd)],
  ], (r) => r.map((x) => [x]));
  rows("live", o.live, (m) => [[m.name], [String(m.running)], [String(m.waiting)], [(100 * m.kvUsage).toFixed(1) + "%"]]);
  rows("by-model", o.totals.by_model, (m) => [[m.model ?? "(none)"], [int(m.requests)], [usd(m.cost_usd)], [int(m.input)], [int(m.output)]]);
  rows("budgets", o.budgets, (b) => [[b.key], [usd(b.spentUsd)], [b.budgetUsd === null ? "none" : usd(b.budgetUsd) + " / " + b.period + (b.soft ? " (soft)" : "")], [b.periodEnds]]);
  rows("recent", o.recent, (r) => [
    [r.ts.slice(11, 19)], [r.key ?? "-"], [r.model_requested], [r.model ?? "-"], [r.route ?? "-", "route"], [r.outcome + " " + r.status],
    [r.input_tokens + " / " + r.output_tokens], [usd(r.cost_usd)], [r.ttft_ms === null ? "-" : r.ttft_ms.toFixed(0)], [r.total_ms.toFixed(0)],
  ]);
  $("status").textContent = "updated " + o.generated_at.slice(11, 19) + " UTC" + (o.truncated ? " (series: latest rows only)" : "");
}

async function load() {
  try {
    const res = await fetch("/dashboard/api/overview?window=" + $("window").value, { credentials: "same-origin" });
    if (!res.ok) throw new Error((await res.json()).error?.message ?? res.statusText);
    render(await res.json());
  } catch (e) {
    $("status").textContent = "not updated: " + e.message;
  }
}

async function loop() {
  await load();
  setTimeout(loop, refreshMs());
}

$("cost-by").addEventListener("change", () => last && render(last));
$("latency-of").addEventListener("change", () => last && render(last));
$("window").addEventListener("change", load);
loop();
