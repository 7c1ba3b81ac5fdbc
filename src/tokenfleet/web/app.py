"""The dashboard's Starlette app: a static single page plus a small JSON API.

    GET  /                         the page (static/index.html, app.js, app.css; plotly.js from the plotly package)
    GET  /api/init                 starting scenario and deal YAML, examples, catalog ids for the pickers
    GET  /api/examples/{name}      an example scenario or deal, as YAML
    POST /api/validate             {kind: scenario|deal, yaml | data} -> {data, yaml, errors: [{path, message}]}
    POST /api/runs                 {kind: plan|simulate|deal, scenario_yaml, deal_yaml, options} -> 202 {id}
                                   (422 {errors} when the input does not validate)
    GET  /api/runs                 every run, brief (status, progress, headline numbers)
    GET  /api/runs/{id}            one run with its page (cards, tables, figures); DELETE removes it
    GET  /api/runs/{id}/files/{f}  report.html (+ plotly.min.js beside it), tables.xlsx, tables.zip (CSV),
                                   report.zip (all of them), plan.json / summary.json / deal.json, the YAML
    GET  /api/compare?a=ID&b=ID    the inputs that differ between two runs
    GET  /viz/report.css, .js      the reports' stylesheet and figure-drawing script (shared with report.html)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import plotly
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tokenfleet import catalog
from tokenfleet.errors import ScenarioError
from tokenfleet.viz.page import asset
from tokenfleet.web.downloads import file_response
from tokenfleet.web.examples import default_deal, default_scenario, example_text, list_examples
from tokenfleet.web.inputs import changes, run_label
from tokenfleet.web.jobs import JobRunner, Run, RunStore
from tokenfleet.web.validation import FieldError, deal_errors, parse_yaml, scenario_errors
from tokenfleet.web.work import deal_work, plan_work, simulate_work

STATIC = Path(__file__).parent / "static"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
KINDS = ("plan", "simulate", "deal")


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)


def create_app(scenario: Path | None = None, *, runs_dir: Path | None = None, workers: int = 2) -> Starlette:
    """The app; ``scenario`` is the file opened at start (its folder resolves relative trace paths)."""
    if scenario is not None:
        try:
            scenario_text = scenario.read_text(encoding="utf-8")
        except OSError as exc:
            raise ScenarioError(f"cannot read: {exc.strerror}", where=str(scenario)) from None
        base_dir = scenario.resolve().parent
        scenario_name = scenario.name
    else:
        scenario_text, base_dir, scenario_name = default_scenario(), Path.cwd(), "starter: plan.yaml"
    from_cli = scenario is not None
    store = RunStore(runs_dir)
    runner = JobRunner(store, workers)

    def plan_of(run_id: str) -> dict[str, Any] | None:
        r = store.get(run_id)
        if r is None or r.kind != "plan" or r.output is None:
            return None
        plan: dict[str, Any] | None = r.output.get("plan")
        return plan

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-store"})

    async def plotly_js(request: Request) -> Response:
        return FileResponse(PLOTLY_JS, media_type="text/javascript", headers={"cache-control": "max-age=86400"})

    async def init(request: Request) -> Response:
        return JSONResponse({
            "scenario_name": scenario_name,
            "from_cli": from_cli,
            "scenario_yaml": scenario_text,
            "deal_yaml": default_deal(),
            "examples": list_examples(),
            "hardware": [{"id": h.hw_id, "vendor": h.vendor, "family": h.family} for h in catalog.all_hardware()],
            "models": [m.model_id for m in catalog.all_models()],
        })

    async def example(request: Request) -> Response:
        text = example_text(request.path_params["name"])
        if text is None:
            return JSONResponse({"error": "no such example"}, status_code=404)
        return JSONResponse({"yaml": text})

    def _check(kind: str, body: dict[str, Any]) -> tuple[dict[str, Any] | None, str, list[dict[str, str]]]:
        if "data" in body and isinstance(body["data"], dict):
            data: dict[str, Any] | None = body["data"]
            errs: list[FieldError] = []
        else:
            data, errs = parse_yaml(str(body.get("yaml", "")))
        if data is not None:
            errs = scenario_errors(data) if kind == "scenario" else deal_errors(data)
        text = _dump(data) if data is not None and "data" in body else str(body.get("yaml", ""))
        return data, text, [e.as_dict() for e in errs]

    async def validate(request: Request) -> Response:
        body = await request.json()
        kind = body.get("kind", "scenario")
        if kind not in ("scenario", "deal"):
            return JSONResponse({"error": "kind must be scenario or deal"}, status_code=400)
        data, text, errors = _check(kind, body)
        return JSONResponse({"data": data, "yaml": text, "errors": errors})

    async def create_run(request: Request) -> Response:
        body = await request.json()
        kind = body.get("kind")
        if kind not in KINDS:
            return JSONResponse({"errors": [{"path": "", "message": f"kind must be one of {KINDS}"}]},
                                status_code=400)
        options = dict(body.get("options") or {})
        options["base_dir"] = str(base_dir)
        sc_data, sc_text, errors = _check("scenario", {"yaml": body.get("scenario_yaml", "")})
        deal_text = None
        if kind == "deal":
            _, deal_text, errors = _check("deal", {"yaml": body.get("deal_yaml", "")})
            errors = [e | {"doc": "deal"} for e in errors]
        if errors:
            return JSONResponse({"errors": errors}, status_code=422)
        doc = yaml.safe_load(deal_text or "") if kind == "deal" else sc_data
        prev = next((r for r in reversed(store.all()) if r.kind == kind), None)
        before = yaml.safe_load((prev.deal_yaml if kind == "deal" else prev.scenario_yaml) or "") if prev else None
        changed = changes(before, doc) if isinstance(before, dict) and isinstance(doc, dict) else []
        options["changed"] = changed
        if prev is not None:
            options["after"] = prev.id
        label = str(body.get("label") or run_label(doc or {}, changed, kind))
        run = store.new(kind, label, sc_text, deal_text, options)
        if kind == "plan":
            runner.submit(run, plan_work)
        elif kind == "simulate":
            runner.submit(run, simulate_work)
        else:
            runner.submit(run, lambda r, p: deal_work(r, p, plan_of))
        return JSONResponse({"id": run.id}, status_code=202)

    async def list_runs(request: Request) -> Response:
        return JSONResponse([r.brief() for r in store.all()])

    def _run(request: Request) -> Run | None:
        return store.get(request.path_params["run_id"])

    async def get_run(request: Request) -> Response:
        run = _run(request)
        if run is None:
            return JSONResponse({"error": "no such run"}, status_code=404)
        if request.method == "DELETE":
            store.delete(run.id)
            return JSONResponse({"deleted": run.id})
        return JSONResponse(run.full())

    async def run_file(request: Request) -> Response:
        run = _run(request)
        if run is None or run.output is None:
            return JSONResponse({"error": "no such run, or it has not finished"}, status_code=404)
        resp = file_response(run, request.path_params["name"], bool(request.query_params.get("dl")), PLOTLY_JS)
        return resp or JSONResponse({"error": "no such file"}, status_code=404)

    async def compare(request: Request) -> Response:
        a, b = store.get(request.query_params.get("a", "")), store.get(request.query_params.get("b", ""))
        if a is None or b is None:
            return JSONResponse({"error": "pick two runs"}, status_code=404)
        docs = []
        for r in (a, b):
            text = r.deal_yaml if r.kind == "deal" else r.scenario_yaml
            docs.append(yaml.safe_load(text or "") or {})
        return JSONResponse({"a": a.id, "b": b.id, "changes": changes(docs[0], docs[1])})

    async def viz_asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ("report.css", "report.js"):
            return JSONResponse({"error": "no such file"}, status_code=404)
        return Response(asset(name), media_type="text/css" if name.endswith(".css") else "text/javascript",
                        headers={"cache-control": "no-store"})

    routes = [
        Route("/", index),
        Route("/vendor/plotly.min.js", plotly_js),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Route("/api/init", init),
        Route("/api/examples/{name:path}", example),
        Route("/api/validate", validate, methods=["POST"]),
        Route("/api/runs", create_run, methods=["POST"]),
        Route("/api/runs", list_runs, methods=["GET"]),
        Route("/api/runs/{run_id}", get_run, methods=["GET", "DELETE"]),
        Route("/api/runs/{run_id}/files/{name}", run_file),
        Route("/api/compare", compare),
        Route("/viz/{name}", viz_asset),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        runner.shutdown()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.store = store
    app.state.runner = runner
    return app


__all__ = ["create_app"]
