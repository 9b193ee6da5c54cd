"""Figures: Altair chart builders for the notebooks, and saving as HTML + PNG.

Each builder takes a tidy table from :mod:`nasxfer.stats` (or the experiment
results) and returns an Altair chart; :func:`save_chart` writes it under
``outputs/``. Numbers are never typed in here: a chart shows its table.
"""

from __future__ import annotations

from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd

from .shaping import gamma_transform


def save_chart(chart, path_stem) -> tuple[Path, Path]:
    """Write `chart` (Altair) to ``<path_stem>.html`` and ``<path_stem>.png``, creating folders."""
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    html, png = stem.with_name(stem.name + ".html"), stem.with_name(stem.name + ".png")
    chart.save(str(html))
    chart.save(str(png), format="png", scale_factor=2)  # rendered by vl-convert-python, no browser needed
    return html, png


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
        parts.append(pd.DataFrame({by: key, "bin_start": edges[:-1], "bin_end": edges[1:], "share": counts / counts.sum()}))
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
            color=alt.Color(f"{by}:N", legend=None),
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
    line = alt.Chart(sweep).mark_line().encode(
        x=alt.X("gamma:Q", title="gamma"), y=alt.Y("spread:Q", title="spread (std of shaped rewards)"), color="task:N"
    )
    dots = alt.Chart(chosen).mark_point(size=80, filled=True).encode(x="gamma:Q", y="spread:Q", color="task:N", tooltip=["task", "gamma", "spread"])
    return (line + dots).properties(width=380, height=260, title="Reward spread over gamma")


# ---- search efficiency --------------------------------------------------------------------


def efficiency_chart(summary: pd.DataFrame) -> alt.FacetChart:
    """Mean test metric of the best-by-validation cell against unique cells queried, with CI bands."""
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
        y=alt.Y("mean:Q", title="test metric of best-by-validation cell", scale=alt.Scale(zero=False)),
        tooltip=["task", "searcher", "budget", "n", alt.Tooltip("mean:Q", format=".4f"), alt.Tooltip("ci_low:Q", format=".4f"), alt.Tooltip("ci_high:Q", format=".4f")],
    )
    return (
        (band + line)
        .properties(width=240, height=180)
        .facet(facet=alt.Facet("task:N", title=None), columns=2)
        .resolve_scale(y="independent")
    )


# ---- the transfer grid (Fig. 5-11) ---------------------------------------------------------


def transfer_matrix_chart(matrix: pd.DataFrame, title: str) -> alt.LayerChart:
    """Fig. 5/6: one regime's source x target matrix; colour = difference to scratch (the diagonal)."""
    df = matrix.assign(
        label=matrix["mean"].map("{:.3g}".format) + "\n±" + matrix["std"].map("{:.2g}".format),
        marker=matrix["verdict"].map({"better": "▲", "worse": "▼", "tie": "", "scratch": "scratch"}),
    )
    lim = float(np.nanmax(np.abs(df["diff"] / df["scratch_mean"].abs()))) or 1.0
    df["rel_diff"] = df["diff"] / df["scratch_mean"].abs()
    base = alt.Chart(df).encode(
        x=alt.X("target:N", title="target task"), y=alt.Y("source:N", title="source task")
    )
    rect = base.mark_rect().encode(
        color=alt.Color("rel_diff:Q", title="vs scratch", scale=alt.Scale(scheme="redblue", domain=[-lim, lim]), legend=alt.Legend(format="+.1%")),
        tooltip=["source", "target", "n", alt.Tooltip("mean:Q", format=".4f"), alt.Tooltip("std:Q", format=".4f"),
                 alt.Tooltip("ci_low:Q", format=".4f"), alt.Tooltip("ci_high:Q", format=".4f"), "verdict"],
    )
    text = base.mark_text(fontSize=11, dy=-6).encode(text=alt.Text("mean:Q", format=".4g"))
    mark = base.mark_text(fontSize=10, dy=9).encode(text="marker:N")
    return (rect + text + mark).properties(width=320, height=320, title=title)


def regimes_chart(matrices: pd.DataFrame) -> alt.FacetChart:
    """Fig. 7: zero-shot vs fine-tune vs retrain per source -> target, with 95% CIs."""
    df = matrices[matrices.source != matrices.target]
    order = ["zero_shot", "fine_tune", "retrain"]
    full = df[df.regime == "retrain"].drop_duplicates("target").set_index("target")["scratch_mean"]
    df = df.assign(scratch_full=df.target.map(full))
    base = alt.Chart(df).encode(
        y=alt.Y("source:N", title=None),
        color=alt.Color("regime:N", sort=order),
        yOffset=alt.YOffset("regime:N", sort=order),
    )
    bars = base.mark_point(filled=True, size=50).encode(x=alt.X("mean:Q", scale=alt.Scale(zero=False), title="final test metric"))
    err = base.mark_rule().encode(x="ci_low:Q", x2="ci_high:Q")
    scratch = alt.Chart(df).mark_rule(strokeDash=[4, 3], color="gray").encode(x="scratch_full:Q")
    return (
        (err + bars + scratch)
        .properties(width=230, height=150)
        .facet(facet=alt.Facet("target:N", title="target task (dashed: scratch, full budget)"), columns=2)
        .resolve_scale(x="independent", y="independent")
    )


def training_curves_chart(bands: pd.DataFrame, x: str = "env_steps", title: str = "") -> alt.FacetChart:
    """Fig. 8/9: smoothed training curves per target, one line per source (scratch = the target itself)."""
    df = bands.assign(run=np.where(bands.source == bands.target, "scratch", "from " + bands.source))
    xt = {"env_steps": "target env steps", "train_s": "target training time (s)"}[x]
    base = alt.Chart(df).encode(x=alt.X(f"{x}:Q", title=xt), color=alt.Color("run:N", title="agent"))
    band = base.mark_area(opacity=0.15).encode(y=alt.Y("ci_low:Q", scale=alt.Scale(zero=False), title="final test metric (MA 16)"), y2="ci_high:Q")
    line = base.mark_line().encode(y="mean:Q")
    return (
        (band + line)
        .properties(width=260, height=180)
        .facet(facet=alt.Facet("target:N", title=title or None), columns=2)
        .resolve_scale(y="independent")
    )


def crossover_chart(summary: pd.DataFrame, x_title: str) -> alt.FacetChart:
    """Fig. 10/11: mean cross-over point (with 95% CI) of each source per target."""
    base = alt.Chart(summary).encode(y=alt.Y("source:N", title=None))
    pts = base.mark_point(filled=True, size=60).encode(x=alt.X("mean:Q", title=x_title))
    err = base.mark_rule().encode(x="ci_low:Q", x2="ci_high:Q")
    ref = base.mark_tick(color="gray", thickness=2).encode(x="scratch_x:Q")
    return (err + pts + ref).properties(width=240, height=110).facet(
        facet=alt.Facet("target:N", title="target task (grey tick: steps scratch needed)"), columns=2
    ).resolve_scale(x="independent")
