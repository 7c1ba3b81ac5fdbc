"""A report page: headline cards, sections, tables and plotly figures in the shared style.

A :class:`Page` collects blocks and renders one HTML file that loads plotly.js once from the file beside it
(``plotly.min.js``, copied by :func:`write_report`: the one shared asset, so a report is far under 1 MB and
opens offline), carries its figures as one JSON block and draws them with ``report.js``. The stylesheet and
the drawing script are inlined (the dashboard serves the same two files)."""

from __future__ import annotations

import html
import json
import re
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from tokenfleet.viz.export import write_tables
from tokenfleet.viz.table import Table
from tokenfleet.viz.theme import to_json

PLOTLY_ASSET = "plotly.min.js"


def asset(name: str) -> str:
    """``report.css`` or ``report.js``: the shared stylesheet and figure-drawing script."""
    return resources.files("tokenfleet.viz").joinpath("assets", name).read_text(encoding="utf-8")


def plotly_js_path() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "s"


@dataclass(frozen=True, slots=True)
class Card:
    label: str
    value: str  # already formatted
    sub: str = ""
    bad: bool = False


@dataclass
class Page:
    title: str
    lede: str = ""
    blocks: list[str] = field(default_factory=list)
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)
    captions: dict[str, tuple[str, str]] = field(default_factory=dict)  # figure id -> (title, caption)
    items: list[dict[str, Any]] = field(default_factory=list)  # the same blocks as data, for the dashboard
    _open_grid: bool = False

    # ---- blocks ---------------------------------------------------------------------------------------
    def _close_grid(self) -> None:
        if self._open_grid:
            self.blocks.append("</div>")
            self._open_grid = False

    def section(self, title: str, intro: str = "") -> None:
        self._close_grid()
        anchor = _slug(title)
        while any(a == anchor for a, _ in self.sections):
            anchor += "-2"
        self.sections.append((anchor, title))
        self.blocks.append(f"<h2 id='{anchor}'>{html.escape(title)}</h2>")
        self.items.append({"type": "section", "title": title})
        if intro:
            self.text(intro)

    def text(self, text: str, cls: str = "") -> None:
        self._close_grid()
        self.blocks.append(f"<p{f' class={cls!r}' if cls else ''}>{html.escape(text)}</p>")
        self.items.append({"type": "text", "text": text, "cls": cls})

    def raw(self, markup: str) -> None:
        self._close_grid()
        self.blocks.append(markup)

    def callout(self, lines: list[str], bad: bool = False, title: str = "") -> None:
        if not lines:
            return
        self._close_grid()
        items = "".join(f"<li>{html.escape(x)}</li>" for x in lines)
        head = f"<b>{html.escape(title)}</b>" if title else ""
        self.blocks.append(f"<div class='callout{' bad' if bad else ''}'>{head}<ul>{items}</ul></div>")
        self.items.append({"type": "callout", "title": title, "lines": lines, "bad": bad})

    def cards(self, cards: list[Card]) -> None:
        self._close_grid()
        out = "".join(
            f"<div class='card{' bad' if c.bad else ''}'><div class='k'>{html.escape(c.label)}</div>"
            f"<div class='v'>{html.escape(c.value)}</div>"
            + (f"<div class='s'>{html.escape(c.sub)}</div>" if c.sub else "") + "</div>" for c in cards)
        self.blocks.append(f"<div class='cards'>{out}</div>")
        self.items.append({"type": "cards", "cards": [{"label": c.label, "value": c.value, "sub": c.sub, "bad": c.bad}
                                                      for c in cards]})

    def table(self, t: Table, max_rows: int | None = None, export: bool = True) -> None:
        self._close_grid()
        if export:
            self.tables.append(t)
        self.blocks.append(f"<h3>{html.escape(t.title)}</h3>{t.html(max_rows)}")
        self.items.append({"type": "table", "table": t.as_json(max_rows)})

    def figure(self, fig_id: str, title: str, fig: go.Figure | dict[str, Any], caption: str = "",
               wide: bool = False) -> None:
        if fig_id in self.figures:
            raise ValueError(f"two figures named {fig_id!r}")
        self.figures[fig_id] = fig if isinstance(fig, dict) else to_json(fig)
        self.captions[fig_id] = (title, caption)
        if not self._open_grid:
            self.blocks.append("<div class='figs'>")
            self._open_grid = True
        self.items.append({"type": "figure", "id": fig_id, "title": title, "caption": caption, "wide": wide,
                           "figure": self.figures[fig_id]})
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self.blocks.append(f"<figure class='fig{' wide' if wide else ''}' id='fig-{fig_id}'><h3>{html.escape(title)}"
                           f"</h3><div class='plot' data-fig='{fig_id}'></div>{cap}</figure>")

    # ---- output ---------------------------------------------------------------------------------------
    def as_json(self) -> dict[str, Any]:
        """The page as data, block by block (what the dashboard draws), and every table for the exports."""
        return {"title": self.title, "lede": self.lede, "items": self.items,
                "export": [t.to_dict() for t in self.tables]}

    def render(self, plotly_src: str = PLOTLY_ASSET) -> str:
        self._close_grid()
        toc = "" if len(self.sections) < 3 else "<nav class='toc'>" + "".join(
            f"<a href='#{a}'>{html.escape(t)}</a>" for a, t in self.sections) + "</nav>"
        figs = json.dumps(self.figures, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
        script = (f"<script src='{html.escape(plotly_src)}'></script>" if self.figures else "")
        data = f"<script type='application/json' id='tf-figures'>{figs}</script>" if self.figures else ""
        nojs = ("<p id='tf-nojs' class='nojs' hidden>The charts need plotly.min.js beside this file (it is written "
                "with the report); the tables below are complete without it.</p>") if self.figures else ""
        lede = f"<p class='lede'>{html.escape(self.lede)}</p>" if self.lede else ""
        return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
                f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
                f"<title>{html.escape(self.title)}</title><style>{asset('report.css')}</style>{script}</head>"
                f"<body class='tf'><main class='report'><h1>{html.escape(self.title)}</h1>{lede}{toc}{nojs}"
                f"{''.join(self.blocks)}</main>{data}<script>{asset('report.js')}</script></body></html>")


def write_report(page: Page, out_dir: Path, name: str = "report.html", tables: bool = True) -> list[Path]:
    """``report.html``, the plotly asset beside it and (``tables``) ``tables.xlsx`` + ``tables/*.csv``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    path.write_text(page.render(), encoding="utf-8")
    written = [path]
    if page.figures:
        js = out_dir / PLOTLY_ASSET
        src = plotly_js_path()
        if not js.exists() or js.stat().st_size != src.stat().st_size:
            shutil.copyfile(src, js)
        written.append(js)
    if tables and page.tables:
        written += write_tables(page.tables, out_dir, page.title)
    return written


__all__ = ["PLOTLY_ASSET", "Card", "Page", "asset", "plotly_js_path", "write_report"]
