// tokenfleet dashboard: drawing a run's page (the same blocks as its report.html, in the reports' stylesheet),
// side-by-side views (what-if, Compare) with both sides on one scale, and the what-if controls.
"use strict";

// ---- one run's page ------------------------------------------------------------------------------------------
function tableEl(t) {
  const head = el("tr", {}, ...t.columns.map(c => el("th", {class: c.numeric ? "num" : "txt", title: c.note || null}, c.name)));
  const marks = new Set(t.highlight || []);
  const rows = t.cells.map((r, i) => el("tr", {class: marks.has(i) ? "hl" : ""},
    ...r.map((v, j) => el("td", {class: t.columns[j].numeric ? "num" : "txt"}, v))));
  const more = t.rows > t.cells.length ? el("p", {class: "note"}, `First ${t.cells.length} of ${t.rows} rows: every row is in tables.xlsx.`) : null;
  return el("div", {"data-table": t.id}, el("h3", {}, t.title),
    el("div", {class: "tablewrap"}, el("table", {class: "grid", id: "tbl-" + t.id}, el("thead", {}, head), el("tbody", {}, ...rows))),
    t.note ? el("p", {class: "note"}, t.note) : null, more);
}
function cardsEl(cards) {
  return el("div", {class: "cards"}, ...cards.map(c => el("div", {class: "card" + (c.bad ? " bad" : "")},
    el("div", {class: "k"}, c.label), el("div", {class: "v"}, c.value), c.sub ? el("div", {class: "s"}, c.sub) : null)));
}
function calloutEl(it) {
  return el("div", {class: "callout" + (it.bad ? " bad" : "")}, it.title ? el("b", {}, it.title) : null,
    el("ul", {}, ...it.lines.map(x => el("li", {}, x))));
}
// draws page items into root; figures are drawn after they are in the document (plotly measures them)
function drawItems(root, items, prefix) {
  const pending = [];
  let grid = null;
  for (const it of items) {
    if (it.type === "figure") {
      if (!grid) { grid = el("div", {class: "figs"}); root.append(grid); }
      const plot = el("div", {class: "plot", id: `${prefix}fig-${it.id}`});
      grid.append(el("figure", {class: "fig" + (it.wide ? " wide" : ""), "data-fig-id": it.id},
        el("h3", {}, it.title), plot, it.caption ? el("figcaption", {}, it.caption) : null));
      pending.push([plot, it.figure]);
      continue;
    }
    grid = null;
    if (it.type === "section") root.append(el("h2", {}, it.title));
    else if (it.type === "text") root.append(el("p", {class: it.cls || ""}, it.text));
    else if (it.type === "cards") root.append(cardsEl(it.cards));
    else if (it.type === "callout") root.append(calloutEl(it));
    else if (it.type === "table") root.append(tableEl(it.table));
  }
  return Promise.all(pending.map(([div, fig]) => tfDraw(div, fig)));
}

// ---- two runs side by side -------------------------------------------------------------------------------------
function summaryTable(ra, rb, id) {
  const keys = [...new Set([...Object.keys(ra.summary || {}), ...Object.keys(rb.summary || {})])];
  const rows = keys.map(k => {
    const sa = (ra.summary || {})[k], sb = (rb.summary || {})[k], s = sa || sb;
    let delta = "";
    if (sa && sb && typeof sa.value === "number" && typeof sb.value === "number" && sa.value !== 0) {
      const d = (sb.value - sa.value) / Math.abs(sa.value) * 100;
      const text = Math.abs(d) < 0.05 ? "no change" : (d > 0 ? "+" : "") + (Math.abs(d) >= 10 ? d.toFixed(0) : d.toFixed(1)) + "%";
      delta = el("span", {class: "delta " + (d > 0.05 ? "up" : d < -0.05 ? "down" : "")}, text);
    } else if (sa && sb && sa.text !== sb.text) delta = "changed";
    return el("tr", {}, el("td", {class: "txt"}, s.label), el("td", {class: "num"}, sa ? sa.text : "–"),
      el("td", {class: "num"}, sb ? sb.text : "–"), el("td", {class: "num"}, delta));
  });
  return el("table", {class: "grid", id}, el("thead", {}, el("tr", {}, el("th", {class: "txt"}, ""),
    el("th", {class: "num"}, `${ra.id}`), el("th", {class: "num"}, `${rb.id}`), el("th", {class: "num"}, "change"))),
    el("tbody", {}, ...rows));
}
function changesEl(changes, title) {
  if (!changes || !changes.length) return el("p", {class: "note", "data-changes": "0"}, "The inputs are the same.");
  const fmt = v => v === null || v === undefined ? "unset" : (typeof v === "object" ? JSON.stringify(v) : String(v));
  return el("div", {class: "changes", "data-changes": String(changes.length)}, el("b", {}, title),
    el("ul", {}, ...changes.slice(0, 12).map(c => el("li", {}, el("code", {}, c.path), ` ${fmt(c.before)} → ${fmt(c.after)}`)),
      changes.length > 12 ? el("li", {}, `and ${changes.length - 12} more`) : null));
}
// both plots of one figure id on the same axis ranges (every numeric axis)
function syncAxes(a, b) {
  const la = a._fullLayout, lb = b._fullLayout;
  if (!la || !lb) return;
  const upd = {};
  for (const k of Object.keys(la)) {
    if (!/^[xy]axis\d*$/.test(k) || !lb[k] || la[k].type === "category" || lb[k].type === "category") continue;
    const ra = la[k].range, rb = lb[k].range;
    if (!ra || !rb || typeof ra[0] !== "number" || typeof rb[0] !== "number") continue;
    upd[k + ".range"] = [Math.min(ra[0], rb[0]), Math.max(ra[1], rb[1])];
    upd[k + ".autorange"] = false;
  }
  if (Object.keys(upd).length) return Promise.all([Plotly.relayout(a, upd), Plotly.relayout(b, upd)]);
}
function pageFigures(run) { return ((run.page || {}).items || []).filter(i => i.type === "figure"); }
function pageTables(run) { return ((run.page || {}).items || []).filter(i => i.type === "table").map(i => i.table); }
async function drawPair(root, ra, rb, opts) {
  const {title, changes, prefix} = opts;
  const parts = [el("h3", {}, title), changesEl(changes, `Inputs that differ (${ra.id} → ${rb.id})`),
    el("div", {class: "tablewrap"}, summaryTable(ra, rb, prefix + "summary"))];
  const cols = el("div", {class: "side"},
    el("div", {}, el("h3", {class: "sidehead"}, `${ra.id} · ${ra.label}`)),
    el("div", {}, el("h3", {class: "sidehead"}, `${rb.id} · ${rb.label}`)));
  parts.push(cols);
  root.replaceChildren(...parts);
  const fb = new Map(pageFigures(rb).map(f => [f.id, f]));
  const pairs = [];
  for (const f of pageFigures(ra)) {
    if (!fb.has(f.id)) continue;
    const g = fb.get(f.id);
    const da = el("div", {class: "plot", id: `${prefix}a-${f.id}`}), db = el("div", {class: "plot", id: `${prefix}b-${f.id}`});
    root.append(el("div", {class: "pairrow", "data-fig-id": f.id}, el("h3", {}, f.title),
      el("div", {class: "side"}, el("figure", {class: "fig"}, da), el("figure", {class: "fig"}, db))));
    pairs.push([da, f.figure, db, g.figure]);
  }
  for (const [da, fa, db, fb2] of pairs) {
    await Promise.all([tfDraw(da, fa), tfDraw(db, fb2)]);
    await syncAxes(da, db);
  }
}

// ---- what-if ------------------------------------------------------------------------------------------------------
const W = {base: null, last: null, timer: null, seq: 0};
function whatIfControls(scenario) {
  const plan = scenario.plan || {};
  const cands = plan.candidates || [];
  const classes = scenario.traffic || [];
  const box = el("div", {class: "whatif", id: "whatif"});
  const num = (id, label, unit, value, attrs = {}) => el("label", {class: "wi"}, el("span", {}, label, el("span", {class: "unit"}, ` (${unit})`)),
    el("input", {id, type: "number", value: value ?? "", step: "any", ...attrs}));
  const range = (id, min, max, value, step) => el("input", {id: id + "-range", type: "range", min, max, step, value});
  const budget = plan.power_budget_mw;
  box.append(el("div", {class: "wi-head"}, el("b", {}, "What if"),
    el("span", {class: "muted"}, " change an input: the plan is re-solved (no simulation, no curves) and shown beside the last result")));
  const grid = el("div", {class: "wi-grid"});
  grid.append(el("div", {}, num("wi-budget", "Power budget", "MW", budget, {min: 0}),
    budget ? range("wi-budget", (budget * 0.25).toPrecision(3), (budget * 2).toPrecision(3), budget, (budget / 100).toPrecision(2)) : null));
  const mwh = (scenario.facility || {}).usd_per_mwh ?? 80;
  grid.append(el("div", {}, num("wi-mwh", "Power price", "$/MWh", mwh, {min: 0}), range("wi-mwh", 10, 300, mwh, 5)));
  const candSel = el("select", {id: "wi-cand"}, ...cands.map((c, i) => el("option", {value: i}, c.hardware)));
  grid.append(el("div", {}, el("label", {class: "wi"}, el("span", {}, "Unit price of"), candSel),
    num("wi-price", "price per unit", "$", cands.length ? (cands[0].unit_price_usd ?? "") : "", {min: 0, placeholder: "catalog"})));
  const slo = [];
  classes.forEach((c, i) => {
    for (const [k, name, unit] of [["ttft_p99_ms", "TTFT p99", "ms"], ["tpot_p99_ms", "TPOT p99", "ms"],
                                   ["min_user_tok_s", "min speed per user", "tok/s"]]) {
      if (c.slo && c.slo[k] !== undefined) slo.push([`${i}.${k}`, `${c.name}: ${name} (${unit})`, c.slo[k], unit]);
    }
  });
  const sloSel = el("select", {id: "wi-slo"}, ...slo.map(([v, t]) => el("option", {value: v}, t)));
  grid.append(el("div", {}, el("label", {class: "wi"}, el("span", {}, "SLO"), sloSel),
    num("wi-slo-value", "target", slo.length ? slo[0][3] : "", slo.length ? slo[0][2] : "", {min: 0})));
  box.append(grid, el("div", {class: "wi-status muted", id: "wi-status"}, ""));
  const sync = (id) => {
    const r = box.querySelector(`#${id}-range`), n = box.querySelector(`#${id}`);
    if (r) { r.addEventListener("input", () => { n.value = r.value; scheduleWhatIf(); }); n.addEventListener("input", () => { r.value = n.value; }); }
  };
  sync("wi-budget"); sync("wi-mwh");
  for (const id of ["wi-budget", "wi-mwh", "wi-price", "wi-slo-value"]) box.querySelector("#" + id).addEventListener("input", scheduleWhatIf);
  candSel.addEventListener("change", () => { box.querySelector("#wi-price").value = cands[candSel.value].unit_price_usd ?? ""; });
  sloSel.addEventListener("change", () => {
    const s = slo.find(x => x[0] === sloSel.value);
    box.querySelector("#wi-slo-value").value = s ? s[2] : "";
    box.querySelector("#wi-slo-value").previousElementSibling.querySelector(".unit").textContent = s ? ` (${s[3]})` : "";
  });
  return box;
}
function scheduleWhatIf() { clearTimeout(W.timer); W.timer = setTimeout(runWhatIf, 500); }
function whatIfScenario() {
  const sc = JSON.parse(JSON.stringify(W.base.scenario));
  const v = id => { const x = document.getElementById(id); return x && x.value.trim() !== "" ? Number(x.value) : undefined; };
  sc.plan = sc.plan || {};
  if (v("wi-budget") !== undefined) sc.plan.power_budget_mw = v("wi-budget");
  sc.facility = sc.facility || {};
  if (v("wi-mwh") !== undefined) sc.facility.usd_per_mwh = v("wi-mwh");
  const ci = document.getElementById("wi-cand");
  if (ci && ci.value !== "" && v("wi-price") !== undefined) {
    const c = sc.plan.candidates[Number(ci.value)];
    delete c.price_usd; c.unit_price_usd = v("wi-price");
  }
  const ss = document.getElementById("wi-slo");
  if (ss && ss.value && v("wi-slo-value") !== undefined) {
    const [i, k] = ss.value.split(/\.(.+)/);
    sc.traffic[Number(i)].slo[k] = v("wi-slo-value");
  }
  return sc;
}
async function runWhatIf() {
  const seq = ++W.seq, status = document.getElementById("wi-status");
  const sc = whatIfScenario();
  const check = await api("/api/validate", {kind: "scenario", data: sc});
  if (check.data.errors.length) {
    status.textContent = "Not re-planned: " + check.data.errors.map(e => `${e.path}: ${e.message}`).join("; ");
    status.className = "wi-status err"; return;
  }
  status.className = "wi-status muted"; status.textContent = "re-planning…";
  const r = await api("/api/runs", {kind: "plan", scenario_yaml: check.data.yaml, options: {fast: true}});
  if (r.status !== 202) { status.textContent = "refused: " + JSON.stringify(r.data.errors || r.data); return; }
  const run = await waitRun(r.data.id);
  if (seq !== W.seq) return;  // a newer change is on its way
  refreshRuns();
  if (run.status !== "done") { status.className = "wi-status err"; status.textContent = run.error || "failed"; return; }
  status.textContent = `${run.id} in ${run.wall_s ? run.wall_s.toFixed(1) : "?"} s`;
  const before = W.last || W.base.run;
  W.last = run;
  const root = document.getElementById("whatif-result");
  await drawPair(root, before, run, {title: `What-if ${run.id} beside ${before.id}`, changes: run.changed, prefix: "wi-"});
}
async function waitRun(id) {
  for (;;) {
    const r = await api(`/api/runs/${id}`);
    if (r.data.status === "done" || r.data.status === "failed") return r.data;
    await new Promise(res => setTimeout(res, 250));
  }
}
async function openWhatIf(run) {
  const sc = await api("/api/validate", {kind: "scenario", yaml: await (await fetch(`/api/runs/${run.id}/files/scenario.yaml`)).text()});
  W.base = {run, scenario: sc.data.data}; W.last = null;
  return whatIfControls(sc.data.data);
}
