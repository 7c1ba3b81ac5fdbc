"""A finished run's files: what the run wrote (report.html, plan.json...), plotly.min.js beside report.html,
and the exports built from its tables on request: tables.xlsx, tables.zip (one CSV per table) and
report.zip (the report, plotly.min.js, the workbook, the CSVs and the run's other files)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from starlette.responses import FileResponse, Response

from tokenfleet.viz.export import csv_text, xlsx_bytes
from tokenfleet.viz.table import Table
from tokenfleet.web.jobs import Run

MEDIA = {".html": "text/html", ".json": "application/json", ".yaml": "application/x-yaml", ".zip": "application/zip",
         ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".js": "text/javascript"}
EXPORTS = ("tables.xlsx", "tables.zip", "report.zip")


def export_names(run: Run) -> list[str]:
    return list(EXPORTS) if (run.output or {}).get("export") else []


def _tables(run: Run) -> list[Table]:
    return [Table.from_dict(t) for t in (run.output or {}).get("export", [])]


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def content(run: Run, name: str, plotly_js: Path) -> bytes | None:
    files: dict[str, str] = (run.output or {}).get("files", {})
    if name in files:
        return files[name].encode("utf-8")
    tables = _tables(run)
    title = f"{run.label} ({run.id})"
    if name == "tables.xlsx" and tables:
        return xlsx_bytes(tables, title)
    csvs = {f"tables/{t.id}.csv": csv_text(t).encode("utf-8") for t in tables}
    if name == "tables.zip" and tables:
        return _zip(csvs)
    if name == "report.zip":
        entries = {k: v.encode("utf-8") for k, v in files.items()} | csvs
        if tables:
            entries["tables.xlsx"] = xlsx_bytes(tables, title)
        entries["plotly.min.js"] = plotly_js.read_bytes()
        return _zip({f"{run.id}/{k}": v for k, v in entries.items()})
    return None


def file_response(run: Run, name: str, download: bool, plotly_js: Path) -> Response | None:
    if name == "plotly.min.js":  # report.html loads it from beside itself
        return FileResponse(plotly_js, media_type="text/javascript", headers={"cache-control": "max-age=86400"})
    data = content(run, name, plotly_js)
    if data is None:
        return None
    headers = {"content-disposition": f'attachment; filename="{run.id}-{name}"'} if download else {}
    return Response(data, media_type=MEDIA.get(Path(name).suffix, "text/plain"), headers=headers)


__all__ = ["EXPORTS", "content", "export_names", "file_response"]
