"""Figures: Altair chart builders for the notebooks, their files, and the notebook renderer.

Each builder takes a tidy table from :mod:`nasxfer.stats` (or the experiment
results) and returns an Altair chart; :func:`save_chart` writes it under
``outputs/`` as PNG, SVG and an HTML page that draws it without network access.
Numbers are never typed in here: a chart shows its table.

Altair 6 emits Vega-Lite 6, which JupyterLab 4's built-in renderer does not
take (it renders Vega 5 and Vega-Lite 3-5), and Altair's HTML output loads its
JavaScript from a CDN. :func:`use_offline_renderer` makes every chart a
notebook displays carry two outputs instead: the chart compiled to Vega by
vl-convert (drawn, interactive, by JupyterLab's own Vega renderer) and a PNG
rendered by vl-convert (what GitHub, nbviewer and nbconvert's HTML show).
"""

from __future__ import annotations

import base64
import html as _html
import json
import os
import secrets
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import vl_convert as vlc

from .benchmark import NB201_TASKS, TRANSNAS_TASKS
from .grid import TASK_SEP
from .shaping import gamma_transform

# ---- one colour per task, in every figure ------------------------------------------------

#: every task of both benchmarks, in a fixed order: ten tasks, ten Tableau colours
ALL_TASKS = tuple(TRANSNAS_TASKS) + tuple(NB201_TASKS)
_TABLEAU10 = (
    "#4c78a8",
    "#f58518",
    "#e45756",
    "#72b7b2",
    "#54a24b",
    "#eeca3b",
    "#b279a2",
    "#ff9da6",
    "#9d755d",
    "#bab0ac",
)
TASK_COLOURS = dict(zip(ALL_TASKS, _TABLEAU10))
OTHER_COLOUR = "#7f7f7f"


def colour_of(task: str) -> str:
    """A task's colour; a grid's ``<benchmark>/<task>`` name has its task's colour."""
    return TASK_COLOURS.get(task.rsplit(TASK_SEP, 1)[-1], OTHER_COLOUR)


def task_order(tasks) -> list:
    """`tasks` (grid task names, either form) in the fixed order of :data:`ALL_TASKS`, unknown ones last."""
    rank = {t: i for i, t in enumerate(ALL_TASKS)}
    present = sorted(set(map(str, tasks)))
    return sorted(present, key=lambda t: rank.get(t.rsplit(TASK_SEP, 1)[-1], len(rank)))


def task_colour(values, field: str = "task", title: str | None = "task", legend=alt.Undefined) -> alt.Color:
    """Colour encoding of a task-valued field: a task has the same colour in every figure.

    `values` are the tasks the chart shows (its legend lists only those).
    """
    domain = task_order(pd.Series(values).astype(str))
    scale = alt.Scale(domain=domain, range=[colour_of(t) for t in domain])
    return alt.Color(f"{field}:N", scale=scale, title=title, legend=legend)


def _ci_tooltip(*fields) -> list:
    """Tooltip of an aggregate mark: its keys, then mean, 95% CI and n."""
    return [
        *fields,
        alt.Tooltip("mean:Q", format=".4f"),
        alt.Tooltip("ci_low:Q", title="CI low", format=".4f"),
        alt.Tooltip("ci_high:Q", title="CI high", format=".4f"),
        alt.Tooltip("n:Q"),
    ]


# ---- files -------------------------------------------------------------------------------

PNG_SCALE = 2  # PNGs at twice their CSS size, sharp on high-density screens
VENDOR_DIR = "vendor"  # beside the figures: the one local copy of vega, vega-lite and vega-embed
VENDOR_FILE = f"vega-embed-{vlc.get_vega_embed_version()}.js"
_EMBED_OPTIONS = {"renderer": "svg", "actions": {"export": True, "source": False, "compiled": False, "editor": False}}


def _write_atomic(path: Path, data: str | bytes) -> None:
    """Write through a temporary file in the same folder, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:  # a plain open: the file gets the usual permissions (umask)
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _spec(chart) -> dict:
    return chart if isinstance(chart, dict) else chart.to_dict()


def write_vendor_js(folder) -> Path:
    """The JavaScript of vega, vega-lite and vega-embed in ``<folder>/vendor/`` (vl-convert's bundle), once."""
    path = Path(folder) / VENDOR_DIR / VENDOR_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, vlc.javascript_bundle())
    return path


def offline_html(spec: dict, script_src: str, title: str = "", fallback_png: str | None = None) -> str:
    """A page that draws `spec` (Vega-Lite) with the JavaScript at `script_src` (a local path, no CDN).

    `fallback_png` (a path) is shown until the chart is drawn, and stays if JavaScript is off.
    """
    fallback = f'<img src="{_html.escape(fallback_png)}" alt="{_html.escape(title)}">' if fallback_png else ""
    return f"""<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>{_html.escape(title)}</title>
<script src="{_html.escape(script_src)}"></script>
<style>body {{ font-family: sans-serif; margin: 1em; }} img {{ max-width: 100%; }}</style>
</head>
<body>
<div id="vis">{fallback}</div>
<script>
vegaEmbed("#vis", {json.dumps(spec)}, {json.dumps(_EMBED_OPTIONS)}).catch(function (err) {{
  var p = document.createElement("pre"); p.textContent = String(err); document.body.appendChild(p);
}});
</script>
</body>
</html>
"""


def save_chart(chart, path_stem) -> dict[str, Path]:
    """Write `chart` (Altair) as ``<stem>.png``, ``<stem>.svg`` and ``<stem>.html``, creating folders.

    The images are rendered by vl-convert (no browser). The HTML draws the
    interactive chart with ``vendor/`` JavaScript beside it, shared by every
    figure of the folder, so it opens without network access.
    """
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    spec = _spec(chart)
    paths = {ext: stem.with_name(f"{stem.name}.{ext}") for ext in ("png", "svg", "html")}
    _write_atomic(paths["png"], vlc.vegalite_to_png(spec, scale=PNG_SCALE))
    _write_atomic(paths["svg"], vlc.vegalite_to_svg(spec))
    write_vendor_js(stem.parent)
    page = offline_html(spec, f"{VENDOR_DIR}/{VENDOR_FILE}", title=stem.name, fallback_png=paths["png"].name)
    _write_atomic(paths["html"], page)
    return paths


# ---- the notebook renderer ----------------------------------------------------------------

RENDERER = "nasxfer"
VEGA_MIME = "application/vnd.vega.v5+json"  # the Vega mimetype JupyterLab 4 renders with its own vega
# PNGs in notebooks at their CSS size: the largest notebook (four facetted charts) stays near 1 MB
NOTEBOOK_PNG_SCALE = 1


def offline_mimebundle(spec: dict, scale: float = NOTEBOOK_PNG_SCALE, **embed_options) -> tuple[dict, dict]:
    """The display outputs of one chart: Vega for JupyterLab, a PNG for every other viewer.

    JupyterLab prefers the Vega output and draws it interactively with the vega
    it ships; nbconvert, nbviewer and GitHub do not render Vega and show the PNG
    (at `scale` times its CSS size).
    """
    vega = vlc.vegalite_to_vega(spec)
    # vl-convert compiles for vega 6, JupyterLab 4 ships vega 5 and renders only the v5 mimetype;
    # the grammar our charts use is the same in both (tests/test_browser.py has JupyterLab draw
    # every chart of a notebook), so the spec is labelled v5.
    vega["$schema"] = "https://vega.github.io/schema/vega/v5.json"
    png = vlc.vegalite_to_png(spec, scale=scale)
    width, height = _png_size(png)
    bundle = {VEGA_MIME: vega, "image/png": base64.b64encode(png).decode(), "text/plain": "<nasxfer chart>"}
    metadata = {"image/png": {"width": round(width / scale), "height": round(height / scale)}}
    if embed_options:
        metadata[VEGA_MIME] = {"embed_options": embed_options}
    return bundle, metadata


def _png_size(png: bytes) -> tuple[int, int]:
    # width and height sit at fixed offsets of a PNG's IHDR chunk
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def use_offline_renderer(scale: float = NOTEBOOK_PNG_SCALE) -> str:
    """Show Altair charts in this process as Vega + PNG (see :func:`offline_mimebundle`).

    Call it once in a notebook's setup cell. Importing :mod:`nasxfer.figures`
    changes nothing; this call registers the ``"nasxfer"`` renderer with Altair
    and enables it. Returns the name of the renderer that was active before
    (``alt.renderers.enable(name)`` goes back to it).
    """
    before = alt.renderers.active
    alt.renderers.register(RENDERER, offline_mimebundle)
    alt.renderers.enable(RENDERER, scale=scale)
    return before


def _heatmap(df, x, y, value, title, fmt=".2f", scheme="blues", domain=None):
    base = alt.Chart(df).encode(x=alt.X(f"{x}:N", title=None), y=alt.Y(f"{y}:N", title=None))
    scale = alt.Scale(scheme=scheme, domain=domain) if domain else alt.Scale(scheme=scheme)
    rect = base.mark_rect().encode(color=alt.Color(f"{value}:Q", scale=scale, title=None), tooltip=list(df.columns))
    text = base.mark_text(fontSize=11).encode(text=alt.Text(f"{value}:Q", format=fmt))
    return (rect + text).properties(title=title, width=220, height=220)


# ---- benchmark and reward shaping (Fig. 1-4) --------------------------------------------


def task_correlation_chart(corr: pd.DataFrame) -> alt.HConcatChart:
    """Fig. 1: Kendall tau and Spearman rho between tasks, side by side."""
    return alt.hconcat(
        _heatmap(corr, "task_b", "task_a", "kendall_tau", "Kendall tau", domain=[-1, 1], scheme="redblue"),
        _heatmap(corr, "task_b", "task_a", "spearman_rho", "Spearman rho", domain=[-1, 1], scheme="redblue"),
    )


def histogram_table(rewards: pd.DataFrame, by: str = "task", value: str = "reward", bins: int = 50) -> pd.DataFrame:
    """Pre-binned counts (so the saved HTML stays small): by, bin_start, bin_end, share."""
    parts = []
    edges = np.linspace(0.0, 1.0, bins + 1)
    for key, g in rewards.groupby(by, sort=False):
        counts, _ = np.histogram(g[value], bins=edges)
        parts.append(
            pd.DataFrame({by: key, "bin_start": edges[:-1], "bin_end": edges[1:], "share": counts / counts.sum()})
        )
    return pd.concat(parts, ignore_index=True)


def reward_distribution_chart(hist: pd.DataFrame, by: str = "task", title: str = "normalised reward") -> alt.FacetChart:
    """Fig. 2: distribution of each task's normalised reward over all cells."""
    return (
        alt.Chart(hist)
        .mark_bar()
        .encode(
            x=alt.X("bin_start:Q", bin="binned", title=title, scale=alt.Scale(domain=[0, 1])),
            x2="bin_end:Q",
            y=alt.Y("share:Q", title="share of cells"),
            color=task_colour(hist[by], by, legend=None),
        )
        .properties(width=200, height=140)
        .facet(facet=alt.Facet(f"{by}:N", title=None), columns=4)
    )


def gamma_transform_chart(gammas=(0.25, 0.5, 1.0, 2.0, 4.0)) -> alt.Chart:
    """Fig. 3: r' = r ** gamma for several gammas."""
    r = np.linspace(0, 1, 101)
    df = pd.concat([pd.DataFrame({"r": r, "shaped": gamma_transform(r, g), "gamma": str(g)}) for g in gammas])
    return (
        alt.Chart(df)
        .mark_line()
        .encode(
            x=alt.X("r:Q", title="normalised metric r"),
            y=alt.Y("shaped:Q", title="shaped reward r ** gamma"),
            color=alt.Color("gamma:N", sort=[str(g) for g in gammas]),
        )
        .properties(width=300, height=260, title="The gamma transform")
    )


def gamma_sweep_chart(sweep: pd.DataFrame, chosen: pd.DataFrame) -> alt.LayerChart:
    """Fig. 4: spread of the shaped rewards over the gamma sweep; dots mark each task's chosen gamma."""
    line = (
        alt.Chart(sweep)
        .mark_line()
        .encode(
            x=alt.X("gamma:Q", title="gamma"),
            y=alt.Y("spread:Q", title="spread (std of shaped rewards)"),
            color=task_colour(sweep["task"]),
        )
    )
    dots = (
        alt.Chart(chosen)
        .mark_point(size=80, filled=True)
        .encode(
            x="gamma:Q",
            y="spread:Q",
            color=task_colour(sweep["task"]),
            tooltip=["task", alt.Tooltip("gamma:Q", format=".2f"), alt.Tooltip("spread:Q", format=".4f")],
        )
    )
    return (line + dots).properties(width=380, height=260, title="Reward spread over gamma")


# ---- search efficiency --------------------------------------------------------------------


def efficiency_chart(summary: pd.DataFrame, y_title: str = "test metric of best-by-validation cell") -> alt.FacetChart:
    """Mean test metric of the best-by-validation cell (or another per-budget summary, e.g. regret)
    against unique cells queried, with CI bands."""
    ticks = sorted(summary["budget"].unique().tolist())
    base = alt.Chart(summary).encode(
        x=alt.X(
            "budget:Q",
            title="unique cells queried",
            axis=alt.Axis(values=ticks),
            scale=alt.Scale(type="log", domain=[ticks[0], ticks[-1]], nice=False),
        ),
        color=alt.Color("searcher:N", title="searcher"),
    )
    band = base.mark_area(opacity=0.2).encode(y=alt.Y("ci_low:Q", scale=alt.Scale(zero=False)), y2="ci_high:Q")
    line = base.mark_line(point=True).encode(
        y=alt.Y("mean:Q", title=y_title, scale=alt.Scale(zero=False)),
        tooltip=_ci_tooltip("task", "searcher", "budget"),
    )
    return (
        (band + line)
        .properties(width=240, height=180)
        .facet(facet=alt.Facet("task:N", title=None), columns=2)
        .resolve_scale(y="independent")
    )


# ---- the transfer grid (Fig. 5-11) ---------------------------------------------------------


def _fmt(v: float, spec: str) -> str:
    return "n/a" if pd.isna(v) else format(v, spec)


def matrix_labels(matrix: pd.DataFrame) -> pd.Series:
    """Each cell's text, as the paper prints it: mean, standard deviation and 95% CI (three lines)."""
    return pd.Series(
        [
            f"{_fmt(m, '.4g')}\n± {_fmt(sd, '.2g')}\n[{_fmt(lo, '.4g')}, {_fmt(hi, '.4g')}]"
            for m, sd, lo, hi in zip(matrix["mean"], matrix["std"], matrix["ci_low"], matrix["ci_high"])
        ],
        index=matrix.index,
    )


def transfer_matrix_chart(matrix: pd.DataFrame, title: str) -> alt.LayerChart:
    """Fig. 5 (retrain), 6 (fine-tune), 7 (zero-shot): one regime's source x target matrix.

    Each cell prints the mean, standard deviation and 95% bootstrap CI over seeds of the final
    test metric, as the paper's do; the colour is the difference to the target's scratch agent
    (the diagonal, marked "scratch"), relative to its size, since the tasks' metrics have
    different scales. A triangle in a cell's corner marks a CI entirely above (up) or below
    (down) scratch's.
    """
    marker = matrix["verdict"].map({"better": "▲", "worse": "▼", "scratch": "scratch"}).fillna("")
    df = matrix.assign(label=matrix_labels(matrix), marker=marker)
    df["rel_diff"] = df["diff"] / df["scratch_mean"].abs()
    lim = float(np.nanmax(np.abs(df["rel_diff"]))) if df["rel_diff"].notna().any() else 0.0
    lim = lim or 1.0
    df["dark"] = df["rel_diff"].abs() > 0.6 * lim  # white text on the darkest cells
    tasks = task_order(set(df.source) | set(df.target))
    base = alt.Chart(df).encode(
        x=alt.X("target:N", title="target task", sort=tasks, axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("source:N", title="source task", sort=tasks),
    )
    rect = base.mark_rect().encode(
        color=alt.Color(
            "rel_diff:Q",
            title="vs scratch",
            scale=alt.Scale(scheme="redblue", domain=[-lim, lim]),
            legend=alt.Legend(format="+.1%"),
        ),
        tooltip=[*_ci_tooltip("source", "target", "regime"), alt.Tooltip("std:Q", format=".4f"), "verdict"],
    )
    ink = alt.condition(alt.datum.dark, alt.value("white"), alt.value("black"))
    text = base.mark_text(fontSize=10, lineBreak="\n", lineHeight=13).encode(text="label:N", color=ink)
    # the verdict in the cell's top right corner (the diagonal: "scratch")
    mark = base.mark_text(fontSize=9, dx=54, dy=-30, align="right").encode(text="marker:N", color=ink)
    return (rect + text + mark).properties(width=480, height=320, title=title)


def regimes_chart(matrices: pd.DataFrame) -> alt.FacetChart:
    """Ours (not in the paper): zero-shot vs fine-tune vs retrain per source -> target, with 95% CIs."""
    df = matrices[matrices.source != matrices.target]
    order = ["zero_shot", "fine_tune", "retrain"]
    full = df[df.regime == "retrain"].drop_duplicates("target").set_index("target")["scratch_mean"]
    df = df.assign(scratch_full=df.target.map(full))
    base = alt.Chart(df).encode(
        y=alt.Y("source:N", title=None),
        color=alt.Color("regime:N", sort=order),
        yOffset=alt.YOffset("regime:N", sort=order),
    )
    bars = base.mark_point(filled=True, size=50).encode(
        x=alt.X("mean:Q", scale=alt.Scale(zero=False), title="final test metric"),
        tooltip=_ci_tooltip("source", "target", "regime"),
    )
    err = base.mark_rule().encode(x="ci_low:Q", x2="ci_high:Q")
    scratch = alt.Chart(df).mark_rule(strokeDash=[4, 3], color="gray").encode(x="scratch_full:Q")
    return (
        (err + bars + scratch)
        .properties(width=230, height=150)
        .facet(facet=alt.Facet("target:N", title="target task (dashed: scratch, full budget)"), columns=2)
        .resolve_scale(x="independent", y="independent")
    )


def training_curves_chart(
    bands: pd.DataFrame, x: str = "env_steps", title: str = "", window: int = 16
) -> alt.FacetChart:
    """Fig. 8/9: smoothed training curves per target, one line per source (scratch = the target itself)."""
    df = bands.assign(run=np.where(bands.source == bands.target, "scratch", "transferred"))
    xt = {"env_steps": "target env steps", "train_s": "target training time (s)"}[x]
    # colour = the source task (scratch: the target itself), the same colour as in every other figure
    base = alt.Chart(df).encode(
        x=alt.X(f"{x}:Q", title=xt),
        color=task_colour(df["source"], "source", "source (scratch: the target)", legend=alt.Legend(symbolOpacity=1)),
    )
    band = base.mark_area(opacity=0.15).encode(
        y=alt.Y(
            "ci_low:Q", scale=alt.Scale(zero=False), title=f"final test metric (moving average of {window} evaluations)"
        ),
        y2="ci_high:Q",
    )
    line = base.mark_line().encode(
        y="mean:Q",
        strokeDash=alt.StrokeDash(
            "run:N", title="agent", sort=["scratch", "transferred"], scale=alt.Scale(range=[[1, 0], [4, 2]])
        ),
    )
    # invisible points carry the tooltips: a line has one tooltip for all its points
    tips = base.mark_point(opacity=0, size=30).encode(
        y="mean:Q", tooltip=_ci_tooltip("source", "target", "run", f"{x}:Q")
    )
    return (
        (band + line + tips)
        .properties(width=260, height=180)
        .facet(facet=alt.Facet("target:N", title=title or None), columns=2)
        .resolve_scale(y="independent")
    )


HATCH_STRIPES = 12  # stripe pairs across a hatched bar's diagonal


def hatch_fill(colour: str, stripes: int = HATCH_STRIPES) -> alt.Gradient:
    """A hatched fill: diagonal stripes of `colour` and white.

    Vega-Lite has no hatch (pattern) fill, and a pattern referenced by ``url(#...)`` is
    dropped by vl-convert's PNG and SVG output. A linear gradient whose stops switch colour
    abruptly is a hatch that every renderer draws: the browser (SVG and canvas), vl-convert's
    SVG (a ``linearGradient``) and its PNG. The stripes run across the bar's own box, so a
    bar has the same number of stripes whatever its height.
    """
    stops = []
    for k in range(stripes):
        a, b, c = k / stripes, (k + 0.5) / stripes, (k + 1) / stripes
        stops += [
            alt.GradientStop(offset=a, color=colour),
            alt.GradientStop(offset=b, color=colour),
            alt.GradientStop(offset=b, color="white"),
            alt.GradientStop(offset=c, color="white"),
        ]
    return alt.Gradient(gradient="linear", stops=stops, x1=0, y1=0, x2=1, y2=1)


def crossover_chart(table: pd.DataFrame, y_title: str, title: str = "") -> alt.LayerChart:
    """Fig. 10 (target env steps) / Fig. 11 (training seconds): the cross-over point per target.

    Bars are grouped by target task, one per source task, in the source's colour; the bar
    height is the sample mean of the all-to-all cross-over points and the error bar their 95%
    bootstrap CI (:func:`nasxfer.stats.crossover_table`). The scratch bar (source = target:
    one scratch run against another) is hatched. Above each bar, how many of its run pairs
    crossed within the run (the others count at the end of the run).
    """
    df = table.assign(
        agent=np.where(table.source == table.target, "scratch (hatched)", "transferred"),
        crossed_label=table["crossed"].astype(int).astype(str) + "/" + table["pairs"].astype(int).astype(str),
    )
    sources, targets = task_order(df.source), task_order(df.target)
    base = alt.Chart(df).encode(
        x=alt.X("target:N", title="target task", sort=targets, axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("source:N", sort=sources),
    )
    y = alt.Y("mean:Q", title=y_title, scale=alt.Scale(zero=True))
    tooltip = [
        *_ci_tooltip("source", "target", "agent"),
        alt.Tooltip("std:Q", format=".4g"),
        alt.Tooltip("crossed_label:N", title="run pairs crossed"),
        "verdict",
    ]
    bars = base.mark_bar().encode(
        y=y,
        color=task_colour(df["source"], "source", "source task", legend=alt.Legend(symbolOpacity=1)),
        tooltip=tooltip,
    )
    # the scratch bar of each target drawn again over its plain bar, hatched in the target's colour
    hatched = [
        base.transform_filter((alt.datum.source == t) & (alt.datum.target == t))
        .mark_bar(fill=hatch_fill(colour_of(t)), stroke=colour_of(t))
        .encode(y=y, tooltip=tooltip)
        for t in targets
        if ((df.source == t) & (df.target == t)).any()
    ]
    err = base.mark_rule(color="black").encode(
        x=alt.X("target:N", sort=targets, bandPosition=0.5),
        xOffset=alt.XOffset("source:N", sort=sources, bandPosition=0.5),
        y="ci_low:Q",
        y2="ci_high:Q",
    )
    label = (
        base.mark_text(fontSize=9, dy=-6, baseline="bottom")
        .encode(
            x=alt.X("target:N", sort=targets, bandPosition=0.5),
            xOffset=alt.XOffset("source:N", sort=sources, bandPosition=0.5),
            y=alt.Y("label_y:Q"),
            text="crossed_label:N",
        )
        .transform_calculate(label_y="isValid(datum.ci_high) ? max(datum.ci_high, datum.mean) : datum.mean")
    )
    return alt.layer(bars, *hatched, err, label).properties(
        width=560,
        height=280,
        title=alt.Title(
            title or "cross-over point per target",
            subtitle="hatched: scratch (one scratch run against another); bar: mean over run pairs, "
            "error bar: 95% CI; k/n: run pairs that crossed within the run",
        ),
    )


# ---- the budget study (notebook 08) --------------------------------------------------------------


def budget_chart(stats: pd.DataFrame, extrapolated: pd.DataFrame | None = None) -> alt.FacetChart:
    """Each finding's statistic against the training budget (log x): mean and 95% CI per budget,
    a dashed rule at its no-effect value, and (optional) the extrapolated value at the paper's
    budget as a grey point with its band, drawn apart so it is never read as measured."""
    from .budget_study import CLAIMS, FINDINGS

    panel = {f: f"{CLAIMS[f]}|{FINDINGS[f][0]}" for f in FINDINGS}
    df = stats.assign(panel=stats.finding.map(panel), kind="measured")
    if extrapolated is not None and len(extrapolated):
        ext = extrapolated.rename(columns={"at_steps": "train_steps"}).assign(kind="extrapolated (a guess)")
        ext = ext.assign(null=ext.finding.map(lambda f: FINDINGS[f][1]), n=np.nan)
        ext = ext.assign(panel=ext.finding.map(panel))
        df = pd.concat([df, ext[["finding", "panel", "train_steps", "mean", "ci_low", "ci_high", "null", "n", "kind"]]])
    steps = sorted(df.train_steps.unique().tolist())
    x = alt.X(
        "train_steps:Q",
        title="target env steps per agent (log)",
        axis=alt.Axis(values=steps, format="~s"),
        scale=alt.Scale(type="log", domain=[steps[0] / 1.5, steps[-1] * 1.5], nice=False),
    )
    kind = alt.Color(
        "kind:N",
        title=None,
        scale=alt.Scale(domain=["measured", "extrapolated (a guess)"], range=["#4c78a8", "#bab0ac"]),
    )
    rule = alt.Chart().mark_rule(strokeDash=[4, 3], color="#888").encode(y="mean(null):Q")  # spans the panel
    base = alt.Chart().encode(x=x)
    bars = base.mark_rule(strokeWidth=2).encode(y=alt.Y("ci_low:Q"), y2="ci_high:Q", color=kind)
    line = base.transform_filter(alt.datum.kind == "measured").mark_line(color="#4c78a8").encode(y="mean:Q")
    points = base.mark_point(size=60, filled=True).encode(
        y=alt.Y("mean:Q", title="statistic (dashed: no effect)", scale=alt.Scale(zero=False)),
        color=kind,
        tooltip=_ci_tooltip("finding", "train_steps", "kind"),
    )
    return (
        alt.layer(rule, bars, line, points, data=df)
        .properties(width=260, height=170)
        .facet(
            facet=alt.Facet(
                "panel:N",
                title=None,
                sort=list(panel.values()),
                header=alt.Header(labelExpr="split(datum.value, '|')", labelFontSize=11),
            ),
            columns=2,
        )
        .resolve_scale(y="independent")
    )


def space_gains_chart(gains: pd.DataFrame) -> alt.FacetChart:
    """Transfer across search spaces (ours): per regime, each target's gap over scratch in rank
    percentile, sources from the target's own space beside sources from the other space; mean and
    95% bootstrap CI over seeds (:func:`nasxfer.cross_space.space_gains`), a dashed rule at 0."""
    from .cross_space import ACROSS, SAME

    order = ["zero_shot", "fine_tune", "retrain"]
    relation = alt.Color(
        "relation:N", title="source", scale=alt.Scale(domain=[SAME, ACROSS], range=["#4c78a8", "#f58518"])
    )
    targets = task_order(gains.target)
    base = alt.Chart().encode(
        x=alt.X("target:N", sort=targets, title="target task", axis=alt.Axis(labelAngle=-20)),
        xOffset=alt.XOffset("relation:N", sort=[SAME, ACROSS]),
    )
    points = base.mark_point(filled=True, size=60).encode(
        y=alt.Y("mean:Q", title="rank percentile points over scratch"),
        color=relation,
        tooltip=[*_ci_tooltip("target", "regime", "relation"), alt.Tooltip("sources:Q"), "verdict"],
    )
    bars = base.mark_rule(strokeWidth=2).encode(y="ci_low:Q", y2="ci_high:Q", color=relation)
    zero = alt.Chart().mark_rule(strokeDash=[4, 3], color="#888").encode(y=alt.datum(0))
    return (
        alt.layer(zero, bars, points, data=gains)
        .properties(width=230, height=200)
        .facet(
            facet=alt.Facet(
                "regime:N",
                sort=order,
                title="zero-shot: vs an untrained agent; fine-tune, retrain: vs scratch at the same budget",
            ),
            columns=3,
        )
    )


# ---- transfer methods compared ------------------------------------------------------------------


def hit_rate_chart(protocol: pd.DataFrame, budget: int) -> alt.FacetChart:
    """At one budget, per target and searcher: the share of trials whose chosen cell is the best,
    a top-3 and a top-0.1% cell by validation (CATCH's measures), with 95% bootstrap CIs."""
    p = protocol[protocol.budget == budget]
    long = pd.concat(
        [
            p[["benchmark", "task", "searcher"]].assign(
                measure=name, share=p[f"p_{name}"], low=p[f"p_{name}_low"], high=p[f"p_{name}_high"]
            )
            for name in ("best", "top-3", "top-0.1%")
        ]
    )
    base = alt.Chart().encode(
        y=alt.Y("searcher:N", title=None),
        color=alt.Color("measure:N", sort=["best", "top-3", "top-0.1%"], title=f"chosen cell at {budget} queries"),
        yOffset=alt.YOffset("measure:N", sort=["best", "top-3", "top-0.1%"]),
    )
    points = base.mark_point(filled=True).encode(
        x=alt.X("share:Q", title="share of trials", scale=alt.Scale(domain=[0, 1])),
        tooltip=[
            "task",
            "searcher",
            "measure",
            alt.Tooltip("share:Q", format=".2f"),
            alt.Tooltip("low:Q", format=".2f"),
            alt.Tooltip("high:Q", format=".2f"),
        ],
    )
    rules = base.mark_rule().encode(x="low:Q", x2="high:Q")
    return (
        alt.layer(rules, points, data=long)
        .properties(width=220, height=200)
        .facet(facet=alt.Facet("task:N", title=None), columns=4)
    )


def speedup_chart(table: pd.DataFrame, title: str) -> alt.FacetChart:
    """Per target and searcher: how many times fewer target queries than the reference it needed to
    reach a validation level (:func:`nasxfer.protocol.speedups`), log scale, a rule at 1 (as fast)."""
    df = table[np.isfinite(table.speedup) & (table.speedup > 0)]
    base = alt.Chart().encode(y=alt.Y("searcher:N", title=None))
    x = alt.X("speedup:Q", title="speed-up (log)", scale=alt.Scale(type="log"))  # `title` once, above the facets
    points = base.mark_point(filled=True, size=50).encode(
        x=x,
        tooltip=["task", "searcher", alt.Tooltip("speedup:Q", format=".2f"), alt.Tooltip("reached:Q", format=".2f")],
    )
    rules = base.mark_rule().encode(x="ci_low:Q", x2="ci_high:Q")
    one = alt.Chart().mark_rule(strokeDash=[4, 3], color="#888").encode(x=alt.datum(1))
    return (
        alt.layer(one, rules, points, data=df)
        .properties(width=220, height=160)
        .facet(facet=alt.Facet("task:N", title=None), columns=4)
        .properties(title=title)
    )


def toy_chart(toy: pd.DataFrame, window: int = 100) -> alt.Chart:
    """The double-XOR toy: each policy's reward, a moving average of `window` samples, mean over
    replicas with the band from the lowest to the highest replica."""
    smooth = toy.sort_values("sample").assign(
        avg=lambda d: d.groupby(["policy", "replica"]).reward.transform(
            lambda r: r.rolling(window, min_periods=1).mean()
        )
    )
    agg = smooth.groupby(["policy", "sample"]).avg.agg(["mean", "min", "max"]).reset_index()
    agg = agg[agg["sample"] % 10 == 0]  # every 10th sample keeps the chart small
    base = alt.Chart(agg).encode(x=alt.X("sample:Q", title="samples"), color=alt.Color("policy:N", title="policy"))
    band = base.mark_area(opacity=0.2).encode(y="min:Q", y2="max:Q")
    line = base.mark_line().encode(y=alt.Y("mean:Q", title=f"reward, moving average of {window}"))
    return (band + line).properties(width=420, height=220, title="double-XOR toy (Transfer NAS, Sec. 4.1)")
