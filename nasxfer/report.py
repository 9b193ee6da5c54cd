"""The report of a run: its executed notebooks as HTML pages, linked from one index page.

``build_report("outputs/laptop")`` writes ``outputs/laptop/report/index.html``
and one page per notebook. A reader needs a browser and nothing else: no
Python, no network. Each chart that :func:`nasxfer.figures.use_offline_renderer`
stored in a notebook is drawn interactively by the JavaScript in
``report/vendor/`` (a local copy of vega, vega-lite and vega-embed), over the
PNG stored beside it, which stays visible if JavaScript is off. nbconvert's
own page would load require.js and MathJax from a CDN; this template leaves
them out, and mermaid too (the notebooks use none of them).
"""

from __future__ import annotations

import html
import json
import os
from datetime import datetime, timezone
from pathlib import Path

from . import __version__
from .errors import NasxferError
from .figures import VEGA_MIME, VENDOR_DIR, VENDOR_FILE, _write_atomic, write_vendor_js

#: the checked-in notebooks, when nasxfer runs from a clone of its repository
REPO_NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

_TEMPLATE = (
    """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block data_png scoped -%}
{%- if '"""
    + VEGA_MIME
    + """' in output.data -%}
<div class="nasxfer-chart">
<script type="application/json">{{ output.data['"""
    + VEGA_MIME
    + """'] | tojson }}</script>
{{ super() }}
</div>
{%- else -%}
{{ super() }}
{%- endif -%}
{%- endblock data_png -%}
{%- block footer_js -%}
<script src="{{ resources.nasxfer_vendor_js }}"></script>
<script>
// Draw each chart from its Vega spec; the PNG goes once the chart is drawn.
document.querySelectorAll(".nasxfer-chart").forEach(function (el) {
  var spec = JSON.parse(el.querySelector("script").textContent);
  var target = document.createElement("div");
  el.appendChild(target);
  vegaEmbed(target, spec, {mode: "vega", renderer: "svg", actions: {export: true, source: false, compiled: false, editor: false}})
    .then(function () { var img = el.querySelector("img"); if (img) img.parentElement.remove(); })
    .catch(function (err) { target.textContent = "chart not drawn: " + err; });
});
</script>
{%- endblock footer_js -%}
"""
)


def run_notebooks(run_dir: Path) -> list[Path]:
    """The notebooks of a run: ``<run>/notebooks/*.ipynb`` if the run has them, else the checked-in ones."""
    for folder in (run_dir / "notebooks", REPO_NOTEBOOKS):
        found = sorted(folder.glob("*.ipynb"))
        if found:
            return found
    raise NasxferError(
        f"no notebooks found in {run_dir / 'notebooks'} nor {REPO_NOTEBOOKS}: pass notebooks=[...] "
        "(executed .ipynb files) to build_report, or run nasxfer report from a clone of the repository"
    )


def read_config(run_dir: Path) -> dict:
    path = run_dir / "config.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise NasxferError(
            f"{path} is missing: is {run_dir} a run folder? (`nasxfer grid params/<profile>.yaml` makes one)"
        ) from None
    except ValueError as e:
        raise NasxferError(f"{path} is not valid JSON ({e}): rerun the grid to rewrite it") from None


def _executed(nb, path: Path) -> None:
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    if code and not any(c.get("execution_count") for c in code):
        raise NasxferError(f"{path} has not been executed: run it first, e.g. `papermill {path} {path}`")


def _title(nb, path: Path) -> str:
    for c in nb.cells:
        if c.cell_type == "markdown":
            for line in c.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return path.stem


def _exporter():
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter  # the notebooks extra: pip install "nasxfer[notebooks]"

    return HTMLExporter(
        extra_loaders=[DictLoader({"nasxfer_report.html.j2": _TEMPLATE})], template_file="nasxfer_report.html.j2"
    )


def notebook_page(path: Path, vendor_js: str) -> tuple[str, str, int]:
    """One executed notebook as an HTML page: (html, title, number of charts)."""
    try:
        import nbformat
    except ImportError:
        raise NasxferError('the report needs nbformat and nbconvert: pip install "nasxfer[notebooks]"') from None
    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError) as e:
        raise NasxferError(f"cannot read notebook {path}: {e}") from None
    _executed(nb, path)
    body, _ = _exporter().from_notebook_node(nb, resources={"nasxfer_vendor_js": vendor_js})
    charts = sum(VEGA_MIME in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    return body, _title(nb, path), charts


def smoothing_line(run_dir: Path) -> str | None:
    """What the paper's moving average of 16 evaluations spans in this run's curves (None: no curves)."""
    path = run_dir / "curves.parquet"
    if not path.is_file():
        return None
    import pandas as pd

    from .grid import SMOOTHING_WINDOW
    from .stats import smoothing_span

    try:
        curves = pd.read_parquet(path, columns=["seed", "source", "target"])
    except (OSError, ValueError) as e:
        raise NasxferError(f"cannot read {path} ({e}): rerun the grid to rewrite it") from None
    return smoothing_span(curves, SMOOTHING_WINDOW)["text"]


def _run_table(config: dict, smoothing: str | None = None) -> list[tuple[str, str]]:
    g = config.get("grid", {})
    agent = g.get("agent", {})
    rows = [
        ("run", g.get("run_name")),
        ("profile (agent preset)", agent.get("preset")),
        ("benchmark", g.get("benchmark")),
        ("source tasks", ", ".join(g.get("source_tasks", []))),
        ("target tasks", ", ".join(g.get("target_tasks", []))),
        ("seeds", ", ".join(map(str, g.get("seeds", [])))),
        ("budget: train_steps (env steps per agent)", g.get("train_steps")),
        ("budget: finetune_steps", g.get("finetune_steps")),
        ("evaluation", f"every {g.get('eval_every')} env steps, {g.get('eval_episodes')} episodes"),
        *([("smoothing", smoothing)] if smoothing else []),
        ("nasxfer version of the run", config.get("nasxfer_version")),
    ]
    rows += [(f"agent: {k}", v) for k, v in agent.items() if k != "preset"]
    return [(k, "" if v is None else str(v)) for k, v in rows]


_INDEX_CSS = """body { font-family: sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; line-height: 1.4; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f4f4f4; } code { background: #f4f4f4; padding: 0 0.2em; }"""


def index_page(
    config: dict, pages: list[tuple[str, str, int, str]], figures: list[str], smoothing: str | None = None
) -> str:
    """The index: the run's settings (and what its smoothing spans), then a link per notebook page
    (href, title, charts, source) and figure."""
    esc = html.escape
    name = config.get("grid", {}).get("run_name", "run")
    rows = "\n".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in _run_table(config, smoothing))
    nbs = "\n".join(
        f'<li><a href="{esc(href)}">{esc(title)}</a> ({charts} chart{"s" if charts != 1 else ""}; from <code>{esc(src)}</code>)</li>'
        for href, title, charts, src in pages
    )
    figs = "\n".join(f'<li><a href="{esc(f)}">{esc(Path(f).stem)}</a></li>' for f in figures)
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>nasxfer report: {esc(name)}</title><style>{_INDEX_CSS}</style></head>
<body>
<h1>nasxfer report: {esc(name)}</h1>
<p>Everything here opens offline: the charts are drawn by a local copy of vega in <code>{VENDOR_DIR}/</code>.</p>
<h2>The run</h2>
<table>
{rows}
</table>
<h2>Notebooks (executed)</h2>
<ol>
{nbs}
</ol>
{"<h2>Figure files</h2><ul>" + figs + "</ul>" if figures else ""}
<p><small>report written {made} by nasxfer {esc(__version__)}</small></p>
</body>
</html>
"""


def build_report(run_dir, notebooks=None, out_dir=None) -> Path:
    """Write the report of the run in `run_dir` and return the path of its ``index.html``.

    `notebooks`: executed ``.ipynb`` files (default: :func:`run_notebooks`).
    `out_dir`: default ``<run_dir>/report``. Run settings come from ``<run_dir>/config.json``.
    """
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    paths = [Path(p) for p in notebooks] if notebooks is not None else run_notebooks(run_dir)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise NasxferError(f"notebooks not found: {', '.join(missing)}")
    out = Path(out_dir) if out_dir is not None else run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    write_vendor_js(out)
    pages = []
    for p in paths:
        body, title, charts = notebook_page(p, f"{VENDOR_DIR}/{VENDOR_FILE}")
        _write_atomic(out / f"{p.stem}.html", body)
        pages.append((f"{p.stem}.html", title, charts, p.name))
    figures_dir = run_dir / "figures"
    figures = [os.path.relpath(f, out) for f in sorted(figures_dir.glob("*.html"))] if figures_dir.is_dir() else []
    index = out / "index.html"
    _write_atomic(index, index_page(config, pages, figures, smoothing_line(run_dir)))
    return index
