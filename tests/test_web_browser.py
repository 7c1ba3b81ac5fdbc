"""The dashboard and every report in headless Chromium (Debian's chromium driven by Playwright), looked at the
way a planner would: each state is a full-page screenshot under the test's temp folder (kept as CI artefacts),
and the rendered DOM is checked — every axis titled, no cell or heading overflowing its box, no NaN / None /
True / raw float / scientific notation in a cell, no page wider than the window.

Dashboard: load, change the MW budget and plan, an invalid field shows its message (and a typo its did-you-
mean), a what-if change shows the old and the new plan side by side on one scale, Compare names the input that
changed, a deal on a plan run. Reports: ``plan --out``, ``deal --out``, ``validate --out``, ``sweep``,
``simulate --out``."""

from __future__ import annotations

import contextlib
import io
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from _scenarios import two_class_plan

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("chromium is not installed (CI installs Debian's chromium package)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python API) is not installed")
uvicorn = pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 1000}
WAIT_MS = 120_000  # a busy 2-core machine: generous, never a pass/fail threshold on speed
SCENARIO = two_class_plan("browser-test", pareto_points=5)
# dear H100s: the cheapest fleet (GB200 NVL72 racks) then draws more power than one that mixes in H100s, so a
# tighter MW budget has a feasible, different (dearer) answer for the budget test below
SCENARIO["plan"]["candidates"][2]["price_usd"] = 150_000

# what a planner must never see; returns one line per problem
DOM_CHECKS = r"""
(root) => {
  const scope = root ? document.querySelector(root) : document;
  const problems = [];
  scope.querySelectorAll('.js-plotly-plot').forEach(gd => {
    const fl = gd._fullLayout;
    if (!fl) return;
    for (const k of Object.keys(fl)) {
      if (!/^[xy]axis\d*$/.test(k)) continue;
      const ax = fl[k];
      if (ax.visible === false || ax.showticklabels === false) continue;
      const own = (gd.layout || {})[k] || {};  // the figure's own title (plotly fills a placeholder otherwise)
      const t = String((typeof own.title === 'string' ? own.title : (own.title || {}).text) || "").trim();
      if (!t) problems.push(`${gd.id || gd.dataset.fig}: ${k} has no title`);
      if (ax.type === 'log' && !/log/.test(t)) problems.push(`${gd.id || gd.dataset.fig}: log ${k} not said`);
      if (ax.overlaying) problems.push(`${gd.id || gd.dataset.fig}: ${k} is a twin axis`);
    }
  });
  scope.querySelectorAll('td, th, .card .v, .card .k').forEach(c => {
    const t = c.textContent.trim();
    if (/\b(NaN|nan|None|True|False|undefined|null|inf|Infinity)\b/.test(t)) problems.push(`bad word in a cell: ${t}`);
    if (/\.0*[1-9]\d{3,}/.test(t)) problems.push(`raw float in a cell: ${t}`);
    if (/\d[eE][+-]?\d/.test(t)) problems.push(`scientific notation in a cell: ${t}`);
    if (c.scrollWidth > c.clientWidth + 2) problems.push(`text overflows its cell: ${t}`);
  });
  scope.querySelectorAll('h1, h2, h3, .callout, p, figcaption').forEach(c => {
    if (c.offsetParent !== null && c.scrollWidth > c.clientWidth + 2)
      problems.push(`text overflows its box: ${c.textContent.trim().slice(0, 60)}`);
  });
  if (document.documentElement.scrollWidth > window.innerWidth + 1) problems.push('the page scrolls sideways');
  return problems;
}
"""


def _dom_problems(page: Any, root: str | None = None) -> list[str]:
    problems: list[str] = page.evaluate(DOM_CHECKS, root)
    return problems


def _full_shot(page: Any, path: Path, dashboard: bool = False) -> Path:
    """A full-page screenshot; the dashboard's panes scroll on their own, so they are unrolled first."""
    if dashboard:
        page.add_style_tag(content=".layout{height:auto!important}"
                                   ".results .pane,.editor .pane{overflow:visible!important}")
        page.wait_for_timeout(300)
        page.evaluate("document.querySelectorAll('.js-plotly-plot').forEach(d => Plotly.Plots.resize(d))")
    page.screenshot(path=str(path), full_page=True)
    if dashboard:
        page.evaluate("document.querySelectorAll('style').forEach(s => { if (s.textContent.includes('height:auto"
                      "!important')) s.remove(); })")
    assert path.stat().st_size > 10_000
    return path


# ---- the reports -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tokenfleet.cli import main

    out = tmp_path_factory.mktemp("reports")
    runs = {
        "plan": ["plan", "--out", str(out / "plan")],
        "deal": ["deal", str(ROOT / "examples" / "deals" / "openai-cerebras.yaml"), "--paths", "4000",
                 "--out", str(out / "deal")],
        "validate": ["validate", "--out", str(out / "validate")],
        "sweep": ["sweep", str(ROOT / "examples" / "sweeps" / "cs3-break-even.yaml"), "--no-ray",
                  "--out", str(out / "sweep")],
        "simulate": ["simulate", str(ROOT / "examples" / "sim-azure-conv.yaml"), "--max-requests", "4000",
                     "--out", str(out / "simulate")],
    }
    for name, argv in runs.items():
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                main(argv)
            except SystemExit as exc:
                assert not exc.code, f"{name}: exit {exc.code}"
    return {name: out / name / "report.html" for name in runs}


@pytest.fixture(scope="module")
def pw() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:  # one Playwright per module: the sync API allows one at a time
        yield p


@pytest.fixture(scope="module")
def browser(pw: Any) -> Iterator[Any]:
    b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    yield b
    b.close()


@pytest.mark.parametrize("name", ["plan", "deal", "validate", "sweep", "simulate"])
def test_report_reads_at_a_glance(name: str, reports: dict[str, Path], browser: Any, tmp_path: Path) -> None:
    path = reports[name]
    assert path.stat().st_size < 1_000_000  # plotly.js is the one shared asset beside it
    assert (path.parent / "plotly.min.js").exists()
    pg = browser.new_page(viewport=VIEWPORT)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(path.as_uri())
    pg.wait_for_selector("body[data-rendered='1']", timeout=WAIT_MS)
    n_figs = pg.locator("[data-fig]").count()
    assert n_figs > 0 and pg.locator("[data-fig] .main-svg").count() >= n_figs  # every figure drawn
    _full_shot(pg, tmp_path / f"report-{name}.png")
    assert _dom_problems(pg) == []
    assert not errors, errors
    if name == "plan":  # SLO lines on every latency chart, the current plan marked on the SLO curve
        for fig in ("cdf_ttft_s", "cdf_tpot_s"):
            shapes = pg.evaluate(f"document.querySelector(\"[data-fig='{fig}']\")._fullLayout.shapes.length")
            assert shapes >= 2
        assert pg.evaluate("document.querySelector(\"[data-fig='slo']\").data.some(t => t.name === 'this plan')")
    pg.close()


# ---- the dashboard ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tokenfleet.web.app import create_app

    folder = tmp_path_factory.mktemp("ui")
    sc = folder / "browser-test.yaml"
    sc.write_text(yaml.safe_dump(SCENARIO))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(sc), host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    th.join(timeout=10)


@pytest.fixture(scope="module")
def page(server: str, pw: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    ctx = pw.chromium.launch_persistent_context(str(tmp_path_factory.mktemp("profile")), executable_path=CHROMIUM,
                                                args=ARGS, viewport=VIEWPORT)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(server + "/")
    pg.wait_for_selector("body[data-ready='1']", timeout=30_000)
    yield pg
    ctx.close()
    assert not errors, errors


def _run(page: Any, button: str, expect_id: str) -> None:
    page.click(button)
    page.wait_for_function(f"document.querySelector('.run-head h2')?.textContent.includes('{expect_id}')")
    page.wait_for_selector("#run-status.done", timeout=WAIT_MS)
    page.wait_for_function(f"document.querySelector('#result').dataset.drawn === '{expect_id}'", timeout=WAIT_MS)


def test_page_loads_with_form_and_plotly(page: Any, tmp_path: Path) -> None:
    assert page.input_value('[data-path="plan.power_budget_mw"]') == "50"
    assert page.input_value('[data-path="traffic.0.slo.ttft_p99_ms"]') == "400"
    assert page.evaluate("typeof Plotly") == "object"  # served by the app from the plotly package, no CDN
    # the picker names the file given on the command line, not a placeholder
    assert "browser-test.yaml (from the command line)" in page.inner_text("#example")
    # Simulate is off for a scenario without pools, and the reason is on the page, not in a tooltip
    assert page.is_disabled("#run-simulate") and "Simulate needs pools" in page.inner_text("#run-why")
    _full_shot(page, tmp_path / "01-loaded.png", dashboard=True)


def test_mw_budget_changes_the_plan(page: Any, server: str, tmp_path: Path) -> None:
    _run(page, "#run-plan", "r1")
    first = page.inner_text("#tbl-pools")
    _full_shot(page, tmp_path / "02-plan-50mw.png", dashboard=True)
    assert _dom_problems(page, "#pane-result") == []
    runs = httpx.get(server + "/api/runs").json()
    mw_free = runs[-1]["summary"]["mw"]["value"]
    tco_free = runs[-1]["summary"]["tco"]["value"]
    budget = round(mw_free * 0.96, 4)  # below the cheapest fleet's MW: the planner must pick another fleet
    page.fill('[data-path="plan.power_budget_mw"]', str(budget))
    page.wait_for_timeout(400)
    _run(page, "#run-plan", "r2")
    second = page.inner_text("#tbl-pools")
    _full_shot(page, tmp_path / "03-plan-tight-budget.png", dashboard=True)
    assert second != first
    run = httpx.get(server + "/api/runs/r2").json()
    assert run["summary"]["budget"]["value"] == pytest.approx(budget)
    assert run["summary"]["mw"]["value"] <= budget + 1e-9
    assert run["summary"]["tco"]["value"] >= tco_free  # a tighter constraint never lowers the optimum
    assert "power_budget_mw 50 →" in run["label"]  # runs are named by what changed
    assert page.locator("#r-fig-load .main-svg").count() > 0
    assert _dom_problems(page, "#pane-result") == []


def test_invalid_field_shows_its_message(page: Any, server: str, tmp_path: Path) -> None:
    page.click('#edit-tabs button[data-tab="form"]')
    page.fill('[data-path="facility.pue"]', "5")
    msg = page.locator('.err[data-err-for="facility.pue"]')
    msg.wait_for(state="visible")
    assert "pue must be in [1.0, 3.0]" in msg.inner_text()
    assert "invalid" in (page.get_attribute('[data-path="facility.pue"]', "class") or "")
    assert "facility.pue" in page.inner_text("#error-summary")  # in view beside Run, wherever the field is
    _full_shot(page, tmp_path / "04-invalid-pue.png", dashboard=True)
    before = len(httpx.get(server + "/api/runs").json())
    page.click("#run-plan")  # refused: the page validates first and no run is created
    page.wait_for_timeout(500)
    assert len(httpx.get(server + "/api/runs").json()) == before
    page.fill('[data-path="traffic.1.name"]', "realtime")  # a rule across fields: shown above the form
    page.fill('[data-path="facility.pue"]', "1.3")
    page.wait_for_function("document.querySelector('#general-errors').textContent.includes('must be unique')")
    assert page.inner_text('.err[data-err-for="facility.pue"]') == ""
    page.fill('[data-path="traffic.1.name"]', "chat")
    page.wait_for_selector("#general-errors", state="hidden")
    # a typo in the YAML: the message names the field, says what was meant, and Run stays on the YAML tab
    page.click('#edit-tabs button[data-tab="yaml"]')
    text = page.input_value("#yaml")
    page.fill("#yaml", text.replace("power_budget_mw", "power_budjet_mw"))
    page.wait_for_function("document.querySelector('.yaml-errors').textContent.includes('did you mean')")
    page.click("#run-plan")
    page.wait_for_timeout(500)
    assert not page.locator("#pane-yaml").is_hidden()
    assert "did you mean 'power_budget_mw'" in page.inner_text(".yaml-errors")
    _full_shot(page, tmp_path / "05-yaml-typo.png")
    page.fill("#yaml", text)
    page.wait_for_selector("#error-summary", state="hidden")
    page.click('#edit-tabs button[data-tab="form"]')


def test_what_if_shows_old_and_new_side_by_side(page: Any, server: str, tmp_path: Path) -> None:
    page.click('#result-tabs button[data-tab="runs"]')
    page.click("#runs-table a:text('r1')")
    page.wait_for_function("document.querySelector('#result').dataset.drawn === 'r1'", timeout=WAIT_MS)
    page.wait_for_selector("#wi-mwh")
    page.fill("#wi-mwh", "300")
    page.dispatch_event("#wi-mwh", "input")
    page.wait_for_selector("#whatif-result .pairrow", timeout=WAIT_MS)
    page.wait_for_timeout(500)
    pair = page.inner_text("#whatif-result")
    assert "r1" in pair and "r3" in pair and "facility.usd_per_mwh" in pair
    # both sides of each chart on one scale
    same = page.evaluate("""() => [...document.querySelectorAll('#whatif-result .pairrow')].map(row => {
        const [a, b] = row.querySelectorAll('.js-plotly-plot');
        return ['xaxis', 'yaxis'].every(k => a._fullLayout[k].type === 'category' ||
            JSON.stringify(a._fullLayout[k].range) === JSON.stringify(b._fullLayout[k].range)); })""")
    assert same and all(same)
    run = httpx.get(server + "/api/runs/r3").json()
    assert run["fast"] and run["summary"]["tco"]["value"] > httpx.get(server + "/api/runs/r1").json()[
        "summary"]["tco"]["value"]  # dearer power, dearer plan
    page.evaluate("document.querySelector('#whatif-result').scrollIntoView()")
    _full_shot(page, tmp_path / "06-what-if.png", dashboard=True)
    assert _dom_problems(page, "#whatif-result") == []


def test_compare_names_the_inputs_and_value_a_deal(page: Any, server: str, tmp_path: Path) -> None:
    page.click('#result-tabs button[data-tab="runs"]')
    page.wait_for_selector("#runs-table tr:nth-child(4)")
    _full_shot(page, tmp_path / "07-runs.png", dashboard=True)
    page.click('#result-tabs button[data-tab="compare"]')
    page.select_option("#cmp-a", "r1")
    page.select_option("#cmp-b", "r2")
    page.wait_for_function("document.querySelector('#compare').dataset.drawn === 'r1-r2'", timeout=WAIT_MS)
    text = page.inner_text("#compare")
    assert "TCO per year" in text and "plan.power_budget_mw" in text and "%" in text
    _full_shot(page, tmp_path / "08-compare.png", dashboard=True)
    assert _dom_problems(page, "#compare") == []
    page.click('#edit-tabs button[data-tab="deal"]')
    page.select_option("#deal-plan", "r1")
    page.fill("#deal-paths", "2000")
    _run(page, "#run-deal", "r4")
    assert page.locator(".card").count() >= 4
    assert page.locator("#r-fig-vesting .main-svg").count() > 0
    _full_shot(page, tmp_path / "09-deal.png", dashboard=True)
    assert _dom_problems(page, "#pane-result") == []
    report = httpx.get(server + "/api/runs/r2/files/report.html").text
    assert "src='plotly.min.js'" in report and "<script src=\"http" not in report
    plan_json = httpx.get(server + "/api/runs/r2/files/plan.json").json()
    assert {"pools", "totals", "horizon_years", "cost_over_time"} <= set(plan_json)
