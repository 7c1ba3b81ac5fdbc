// tokenfleet dashboard: a scenario form bound to one JS object, validated by the server (the CLI's pydantic
// models), background runs polled for progress, results drawn with plotly, runs kept and compared.
"use strict";

const S = {
  scenario: {},        // the scenario being edited (source of truth for the form)
  yaml: "",            // its YAML, as the server last returned it
  errors: [],
  hardware: [], models: [], examples: [],
  runs: [], current: null, cache: {}, poll: null,
};
const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
  return e;
};
async function api(path, body, method) {
  const opts = body === undefined ? {method: method || "GET"} :
    {method: method || "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(body)};
  const r = await fetch(path, opts);
  return {status: r.status, data: await r.json()};
}

// ---- paths into the scenario object --------------------------------------------------------------------
function getPath(obj, path) {
  return path.split(".").reduce((o, k) => (o === undefined || o === null ? undefined : o[k]), obj);
}
function setPath(obj, path, value) {
  const parts = path.split(".");
  let o = obj;
  parts.slice(0, -1).forEach((k, i) => {
    if (o[k] === undefined || o[k] === null) o[k] = /^\d+$/.test(parts[i + 1]) ? [] : {};
    o = o[k];
  });
  const last = parts[parts.length - 1];
  if (value === undefined) delete o[last]; else o[last] = value;
}

// ---- the form ---------------------------------------------------------------------------------------------
function field(path, label, opts = {}) {
  const {unit, type = "number", step = "any", options, wide, min, placeholder} = opts;
  const value = getPath(S.scenario, path);
  let input;
  if (type === "select") {
    input = el("select", {"data-path": path, id: "f-" + path});
    for (const o of options) {
      const [val, text] = Array.isArray(o) ? o : [o, o];
      input.append(el("option", {value: val, selected: String(value ?? "") === String(val)}, text));
    }
  } else if (type === "checkbox") {
    input = el("input", {type: "checkbox", "data-path": path, id: "f-" + path, checked: value !== false});
  } else {
    input = el("input", {type, step: type === "number" ? step : undefined, min, placeholder,
      "data-path": path, id: "f-" + path, value: value ?? ""});
  }
  input.addEventListener("change", () => onFieldChange(input, type));
  if (type !== "select" && type !== "checkbox") input.addEventListener("input", () => onFieldChange(input, type));
  const lab = el("label", {for: "f-" + path}, label, unit ? el("span", {class: "unit"}, ` (${unit})`) : null);
  return el("div", {class: "field" + (wide ? " wide" : "")}, lab, input, el("div", {class: "err", "data-err-for": path}));
}
function onFieldChange(input, type) {
  const path = input.dataset.path;
  let v;
  if (type === "checkbox") v = input.checked;
  else if (type === "number") v = input.value.trim() === "" ? undefined : Number(input.value);
  else v = input.value.trim() === "" ? undefined : input.value;
  if (type === "number" && input.value.trim() !== "" && Number.isNaN(v)) v = input.value;  // let the server say why
  setPath(S.scenario, path, v);
  scheduleValidate();
}
function section(title, ...kids) { return el("fieldset", {}, el("legend", {}, title), ...kids); }
function grid(...kids) { return el("div", {class: "fields"}, ...kids); }
function hwOptions() { return S.hardware.map(h => [h.id, `${h.id} (${h.vendor})`]); }
function lengthFields(p, label) {
  const spec = getPath(S.scenario, p);
  if (!spec) return [];
  if (spec.dist === "fixed") return [field(p + ".value", label, {unit: "tokens", step: 1})];
  if (spec.dist === "uniform") return [field(p + ".low", label + " low", {unit: "tokens", step: 1}),
    field(p + ".high", label + " high", {unit: "tokens", step: 1})];
  return [field(p + ".mean", label + " mean", {unit: "tokens"})];
}
function listEditor(path, title, make, blank) {
  const items = getPath(S.scenario, path) || [];
  const box = el("div", {"data-err-for": path});
  items.forEach((it, i) => {
    const del = el("button", {class: "linkbtn del", type: "button", title: "remove", onclick: () => {
      items.splice(i, 1); renderForm(); scheduleValidate();
    }}, "remove");
    box.append(el("div", {class: "item", "data-path": `${path}.${i}`},
      el("div", {class: "item-head"}, el("span", {}, `${title} ${i + 1}${it.name ? ": " + it.name : it.hardware ? ": " + it.hardware : ""}`), del),
      grid(...make(`${path}.${i}`, it))));
  });
  box.append(el("div", {class: "err", "data-err-for": path}));
  box.append(el("button", {class: "linkbtn", type: "button", onclick: () => {
    setPath(S.scenario, path, [...items, blank()]); renderForm(); scheduleValidate();
  }}, `+ add ${title.toLowerCase()}`));
  return box;
}
function renderForm() {
  const sc = S.scenario, form = $("#form");
  const hasPlan = sc.plan !== undefined && sc.plan !== null;
  form.replaceChildren(...[
    section("Scenario", grid(field("name", "Name", {type: "text", wide: true}))),
    section("Traffic classes and SLOs", listEditor("traffic", "Class", (p, c) => {
      const synth = c.arrivals && c.arrivals.process;
      return [
        field(p + ".name", "Name", {type: "text"}),
        field(p + ".model", "Model", {type: "select", options: S.models}),
        field(p + ".tier", "Tier", {type: "text", placeholder: "e.g. ultra-low-latency"}),
        synth ? field(p + ".arrivals.rate_rps", `Rate (${c.arrivals.process})`, {unit: "req/s"})
              : field(p + ".arrivals.rate_multiplier", "Trace rate ×", {unit: "×"}),
        ...(synth ? lengthFields(p + ".input_tokens", "Input") : []),
        ...(synth ? lengthFields(p + ".output_tokens", "Output") : []),
        field(p + ".slo.ttft_p99_ms", "TTFT p99 SLO", {unit: "ms"}),
        field(p + ".slo.tpot_p99_ms", "TPOT p99 SLO", {unit: "ms"}),
        field(p + ".slo.min_user_tok_s", "Min speed per user", {unit: "tok/s"}),
      ];
    }, () => ({name: `class${(sc.traffic || []).length + 1}`, model: S.models[0],
      arrivals: {process: "poisson", rate_rps: 10}, input_tokens: {dist: "fixed", value: 1000},
      output_tokens: {dist: "fixed", value: 200}, slo: {ttft_p99_ms: 2000, tpot_p99_ms: 80}}))),
    hasPlan ? section("Candidate hardware and prices", listEditor("plan.candidates", "Candidate", (p) => [
      field(p + ".hardware", "Hardware", {type: "select", options: hwOptions()}),
      field(p + ".price_usd", "Price per chip", {unit: "$", placeholder: "catalog"}),
      field(p + ".usd_per_hour", "Or rent per chip-hour", {unit: "$/h"}),
      field(p + ".supply_cap_chips", "Supply cap", {unit: "chips", step: 1}),
    ], () => ({hardware: S.hardware[0].id}))) : null,
    (sc.pools && sc.pools.length) || !hasPlan ? section("Pools (simulate)", listEditor("pools", "Pool", (p) => [
      field(p + ".name", "Name", {type: "text"}),
      field(p + ".hardware", "Hardware", {type: "select", options: hwOptions()}),
      field(p + ".replicas", "Replicas", {step: 1, min: 1}),
      field(p + ".tiers.0", "Serves tier", {type: "text"}),
    ], () => ({name: `pool${(sc.pools || []).length + 1}`, hardware: "h100", replicas: 1}))) : null,
    section("Facility and power", grid(
      hasPlan ? field("plan.power_budget_mw", "MW budget", {unit: "MW, facility", placeholder: "no limit"}) : null,
      field("facility.pue", "PUE", {unit: "facility ÷ IT", step: 0.01, placeholder: "default 1.2"}),
      field("facility.usd_per_mwh", "Power price", {unit: "$/MWh", placeholder: "default 80"}),
      field("facility.depreciation_years", "Depreciation", {unit: "years", placeholder: "default 4"}),
      hasPlan ? field("plan.facility_usd_per_mw", "Facility capex", {unit: "$/MW", placeholder: "default 15,000,000"}) : null,
    )),
    hasPlan ? section("Objective and constraints", grid(
      field("plan.objective", "Objective", {type: "select", options: [["cost", "lowest cost"], ["power", "lowest power"], ["goodput", "most goodput"]]}),
      field("plan.horizon_years", "Horizon", {unit: "years", placeholder: "default 3"}),
      field("plan.constraints.max_vendor_share", "Max vendor share", {unit: "0–1", step: 0.05, placeholder: "default 1"}),
      field("plan.constraints.min_vendors", "Min vendors", {step: 1, min: 1, placeholder: "default 1"}),
      field("plan.constraints.peak_headroom", "Peak headroom", {unit: "fraction", step: 0.05, placeholder: "default 0"}),
      field("plan.budget_usd_per_year", "TCO budget (goodput)", {unit: "$/year", placeholder: "none"}),
    )) : null,
    section("Simulation", grid(
      field("sim.seed", "Seed", {step: 1, placeholder: "default 0"}),
      field("sim.duration_s", "Duration", {unit: "s"}),
      field("sim.max_requests", "Max requests", {step: 1}),
    )),
  ].filter(Boolean));
  $("#verify").closest("label").style.visibility = hasPlan ? "visible" : "hidden";
  const hasPools = !!(sc.pools && sc.pools.length);
  $("#run-plan").disabled = !hasPlan;
  $("#run-simulate").disabled = !hasPools;
  const why = [];
  if (!hasPlan) why.push("Run plan needs a plan: section (candidates, budget, objective).");
  if (!hasPools) why.push("Simulate needs pools: this scenario has none (tick “simulate the plan” to check a plan in the simulator).");
  $("#run-why").replaceChildren(...why.map(w => el("div", {}, w)));
  $("#run-why").hidden = why.length === 0;
  showErrors();
}

// ---- validation ------------------------------------------------------------------------------------------
let vTimer = null;
function scheduleValidate() { clearTimeout(vTimer); vTimer = setTimeout(validateForm, 250); }
async function validateForm() {
  const r = await api("/api/validate", {kind: "scenario", data: S.scenario});
  S.errors = r.data.errors; S.yaml = r.data.yaml;
  if (document.activeElement !== $("#yaml")) $("#yaml").value = S.yaml;
  showErrors();
  return S.errors;
}
async function validateYaml() {
  const r = await api("/api/validate", {kind: "scenario", yaml: $("#yaml").value});
  S.errors = r.data.errors;
  if (r.data.data) { S.scenario = r.data.data; S.yaml = $("#yaml").value; renderForm(); }
  else showErrors();
}
function showErrors() {
  document.querySelectorAll(".err").forEach(e => { e.textContent = ""; });
  document.querySelectorAll(".invalid").forEach(e => e.classList.remove("invalid"));
  const general = [];
  for (const e of S.errors) {
    let path = e.path, target = null;
    while (true) {
      target = document.querySelector(`.err[data-err-for="${CSS.escape(path)}"]`);
      if (target || !path) break;
      path = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "";
    }
    if (target && path) {
      target.textContent = (target.textContent ? target.textContent + "; " : "") +
        (path === e.path ? e.message : `${e.path.slice(path.length + 1) || e.path}: ${e.message}`);
      const input = document.querySelector(`[data-path="${CSS.escape(path)}"]`);
      if (input && input.tagName !== "DIV") input.classList.add("invalid");
    } else general.push(e);
  }
  const n = S.errors.length;
  $("#error-summary").hidden = n === 0;
  $("#error-summary").replaceChildren(...(n ? [el("b", {}, `${n} problem${n > 1 ? "s" : ""} in the scenario: `),
    S.errors.slice(0, 2).map(e => `${e.path || "(top)"}: ${e.message}`).join("; ") + (n > 2 ? "; …" : "")] : []));
  const box = $("#general-errors");
  box.hidden = general.length === 0;
  box.replaceChildren(...general.map(e => el("div", {}, e.path ? `${e.path}: ${e.message}` : e.message)));
  $("#yaml").classList.toggle("invalid", S.errors.length > 0);
  $('.err[data-err-for="yaml"]').replaceChildren(...S.errors.map(e => el("div", {}, `${e.path || "(top)"}: ${e.message}`)));
}

// ---- runs ---------------------------------------------------------------------------------------------------
async function startRun(kind) {
  if (kind !== "deal") {
    const onYaml = !$("#pane-yaml").hidden;
    const errs = onYaml ? (await validateYaml(), S.errors) : await validateForm();
    if (errs.length) { showErrors(); showRunMessage(`Not started: ${errs.length} problem(s) in the scenario, shown beside the fields` + (onYaml ? " and under the YAML." : ".")); return; }
  }
  showRunMessage("");
  const body = {kind, scenario_yaml: S.yaml || $("#yaml").value, deal_yaml: $("#deal-yaml").value, options: {}};
  if (kind === "plan") body.options.verify = $("#verify").checked;
  if (kind === "deal") {
    const plan = $("#deal-plan").value || latestPlan();
    if (plan) body.options.plan_run = plan;
    if ($("#deal-paths").value) body.options.paths = Number($("#deal-paths").value);
  }
  const r = await api("/api/runs", body);
  if (r.status !== 202) {
    const errs = r.data.errors || [{path: "", message: JSON.stringify(r.data)}];
    if (kind === "deal") showDealErrors(errs.filter(e => e.doc === "deal"));
    S.errors = errs.filter(e => e.doc !== "deal"); showErrors();
    showRunMessage("Not started: see the messages beside the fields.");
    return;
  }
  if (kind === "deal") showDealErrors([]);
  S.current = r.data.id;
  switchTab("result", "result");
  await refreshRuns();
  watch(S.current);
}
function showRunMessage(text) { const m = $("#run-message"); m.textContent = text; m.hidden = !text; }
function latestPlan() {
  const done = S.runs.filter(r => r.kind === "plan" && r.status === "done" && !r.fast);
  return done.length ? done[done.length - 1].id : "";
}
function showDealErrors(errs) {
  const box = $("#deal-errors");
  box.hidden = errs.length === 0;
  box.replaceChildren(...errs.map(e => el("div", {}, `${e.path || "(top)"}: ${e.message}`)));
  $("#deal-yaml").classList.toggle("invalid", errs.length > 0);
}
function watch(id) {
  clearInterval(S.poll);
  const tick = async () => {
    const r = await api(`/api/runs/${id}`);
    if (r.status !== 200) { clearInterval(S.poll); return; }
    const run = r.data;
    if (S.current === id) renderRun($("#result"), run);
    if (run.status === "done" || run.status === "failed") {
      clearInterval(S.poll); S.cache[id] = run; refreshRuns();
    }
  };
  S.poll = setInterval(tick, 300); tick();
}
async function refreshRuns() {
  const r = await api("/api/runs");
  S.runs = r.data;
  $("#run-count").textContent = S.runs.length;
  renderRunsTable(); fillRunSelects();
}
function headline(r) {
  return Object.values(r.summary || {}).slice(0, 2).map(s => `${s.label}: ${s.text}`).join(" · ");
}
function renderRunsTable() {
  const head = el("tr", {}, ...["run", "kind", "label", "status", "headline", "time", "A", "B", ""].map(h => el("th", {class: h === "time" ? "num" : "txt"}, h)));
  const rows = S.runs.slice().reverse().map(r => {
    const pick = (side) => el("input", {type: "radio", name: "cmp-" + side, checked: $(`#cmp-${side}`).value === r.id,
      disabled: r.status !== "done", onchange: () => { $(`#cmp-${side}`).value = r.id; renderCompare(); }});
    return el("tr", {class: r.id === S.current ? "sel" : ""},
      el("td", {}, el("a", {href: "#", onclick: (ev) => { ev.preventDefault(); openRun(r.id); }}, r.id)),
      el("td", {}, r.kind + (r.fast ? " (what-if)" : "")), el("td", {class: "label"}, r.label),
      el("td", {}, el("span", {class: "status " + r.status}, r.status)),
      el("td", {class: "label"}, headline(r) || r.error || ""), el("td", {class: "num"}, r.wall_s ? r.wall_s.toFixed(1) + " s" : ""),
      el("td", {}, pick("a")), el("td", {}, pick("b")),
      el("td", {}, el("button", {class: "linkbtn del", onclick: async () => {
        await api(`/api/runs/${r.id}`, undefined, "DELETE"); delete S.cache[r.id]; refreshRuns();
      }}, "delete")));
  });
  $("#runs-table").replaceChildren(head, ...rows);
}
function fillRunSelects() {
  const done = S.runs.filter(r => r.status === "done");
  for (const side of ["a", "b"]) {
    const sel = $(`#cmp-${side}`), keep = sel.value;
    sel.replaceChildren(el("option", {value: ""}, "(pick a run)"),
      ...done.map(r => el("option", {value: r.id, selected: r.id === keep}, `${r.id} · ${r.kind} · ${r.label}`)));
  }
  const dp = $("#deal-plan"), keep = dp.value;
  dp.replaceChildren(el("option", {value: ""}, "(latest finished plan)"),
    ...done.filter(r => r.kind === "plan").map(r => el("option", {value: r.id, selected: r.id === keep}, `${r.id} · ${r.label}`)));
}
async function openRun(id) {
  S.current = id; switchTab("result", "result");
  const r = await api(`/api/runs/${id}`);
  if (r.data.status === "done" || r.data.status === "failed") renderRun($("#result"), r.data);
  else watch(id);
  renderRunsTable();
}
async function fetchRun(id) {
  if (!S.cache[id]) S.cache[id] = (await api(`/api/runs/${id}`)).data;
  return S.cache[id];
}

// ---- drawing a run ------------------------------------------------------------------------------------------
async function renderRun(root, run) {
  $("#result-empty").hidden = true;
  const head = el("div", {class: "run-head"},
    el("h2", {}, `${run.label}`, el("span", {class: "muted"}, ` · ${run.kind}${run.fast ? " (what-if)" : ""} · ${run.id}`)),
    el("span", {class: "status " + run.status, id: "run-status"}, run.status));
  const parts = [head];
  if (run.status === "queued" || run.status === "running") {
    const pct = run.progress === null ? 30 : Math.round(run.progress * 100);
    parts.push(el("div", {class: "progress" + (run.progress === null ? " indeterminate" : ""), id: "progress"},
      el("div", {style: `width:${pct}%`})), el("div", {class: "stage"}, run.stage));
    root.replaceChildren(...parts); return;
  }
  if (run.status === "failed") {
    parts.push(el("div", {class: "error-box"}, run.error || "failed"));
    root.replaceChildren(...parts); return;
  }
  if (run.changed && run.changed.length && run.after) parts.push(changesEl(run.changed, `Inputs changed since ${run.after}`));
  parts.push(el("div", {class: "downloads"}, "Download: ", ...(run.files || []).map(f =>
    el("a", {href: `/api/runs/${run.id}/files/${f}?dl=1`, download: `${run.id}-${f}`}, f)),
    el("a", {href: `/api/runs/${run.id}/files/report.html`, target: "_blank"}, "open report.html"),
    el("span", {class: "muted"}, `· ${run.wall_s ? run.wall_s.toFixed(1) : "?"} s`)));
  const whatif = run.kind === "plan" ? el("div", {id: "whatif-box"}) : null;
  if (whatif) parts.push(whatif, el("div", {id: "whatif-result"}));
  const body = el("div", {class: "page"});
  parts.push(body);
  root.replaceChildren(...parts);
  if (whatif) whatif.replaceChildren(await openWhatIf(run));
  await drawItems(body, (run.page || {}).items || [], "r-");
  root.dataset.drawn = run.id;
}
function resizePlots() {
  document.querySelectorAll(".js-plotly-plot").forEach(d => { if (d.offsetParent !== null) Plotly.Plots.resize(d); });
}
window.addEventListener("resize", () => requestAnimationFrame(resizePlots));

// ---- compare ------------------------------------------------------------------------------------------------
async function renderCompare() {
  const a = $("#cmp-a").value, b = $("#cmp-b").value, root = $("#compare");
  if (!a || !b) { root.replaceChildren(el("p", {class: "hint"}, "Pick two finished runs.")); return; }
  const [ra, rb, diff] = await Promise.all([fetchRun(a), fetchRun(b), api(`/api/compare?a=${a}&b=${b}`)]);
  await drawPair(root, ra, rb, {title: `${ra.id} against ${rb.id}`, changes: diff.data.changes, prefix: "cmp-"});
  root.dataset.drawn = `${a}-${b}`;
}

// ---- tabs, examples, start ------------------------------------------------------------------------------------
function switchTab(group, name) {
  const nav = group === "edit" ? "#edit-tabs" : "#result-tabs";
  document.querySelectorAll(`${nav} button`).forEach(b => b.classList.toggle("active", b.dataset.tab === name));
  document.querySelectorAll(`${nav} button`).forEach(b => { $("#pane-" + b.dataset.tab).hidden = b.dataset.tab !== name; });
  if (name === "compare") renderCompare();
  if (name === "runs") refreshRuns();
  requestAnimationFrame(resizePlots);
}
async function loadScenarioYaml(text) {
  $("#yaml").value = text;
  await validateYaml();
  $("#verify").checked = !!(S.scenario.plan && S.scenario.plan.verify && S.scenario.plan.verify.enabled === true);
}
async function init() {
  const r = await api("/api/init");
  const d = r.data;
  S.hardware = d.hardware; S.models = d.models; S.examples = d.examples;
  const ex = $("#example");
  if (d.from_cli) ex.append(el("option", {value: ""}, `${d.scenario_name} (from the command line)`));
  ex.append(...d.examples.filter(e => e.kind === "scenario").map(e =>
    el("option", {value: e.name, selected: !d.from_cli && e.name === d.scenario_name}, e.name)));
  ex.addEventListener("change", async () => {
    if (!ex.value) return;
    const t = await api(`/api/examples/${encodeURIComponent(ex.value)}`);
    await loadScenarioYaml(t.data.yaml);
  });
  const dx = $("#deal-example");
  dx.append(...d.examples.filter(e => e.kind === "deal").map(e => el("option", {value: e.name}, e.name)));
  dx.addEventListener("change", async () => {
    const t = await api(`/api/examples/${encodeURIComponent(dx.value)}`);
    $("#deal-yaml").value = t.data.yaml; validateDeal();
  });
  $("#deal-yaml").value = d.deal_yaml;
  document.querySelectorAll("#edit-tabs button").forEach(b => b.addEventListener("click", () => switchTab("edit", b.dataset.tab)));
  document.querySelectorAll("#result-tabs button").forEach(b => b.addEventListener("click", () => switchTab("result", b.dataset.tab)));
  let yTimer = null;
  $("#yaml").addEventListener("input", () => { clearTimeout(yTimer); yTimer = setTimeout(validateYaml, 500); });
  let dTimer = null;
  $("#deal-yaml").addEventListener("input", () => { clearTimeout(dTimer); dTimer = setTimeout(validateDeal, 500); });
  $("#run-plan").addEventListener("click", () => startRun("plan"));
  $("#run-simulate").addEventListener("click", () => startRun("simulate"));
  $("#run-deal").addEventListener("click", () => startRun("deal"));
  $("#cmp-a").addEventListener("change", renderCompare);
  $("#cmp-b").addEventListener("change", renderCompare);
  await loadScenarioYaml(d.scenario_yaml);
  await refreshRuns();
  document.body.dataset.ready = "1";
}
async function validateDeal() {
  const r = await api("/api/validate", {kind: "deal", yaml: $("#deal-yaml").value});
  showDealErrors(r.data.errors);
}
init();
