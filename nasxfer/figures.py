"""Figures: every chart is saved as an interactive ``.html`` and a static ``.png``."""

from __future__ import annotations

from pathlib import Path


def save_chart(chart, path_stem) -> tuple[Path, Path]:
    """Write `chart` (Altair) to ``<path_stem>.html`` and ``<path_stem>.png``, creating folders."""
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    html, png = stem.with_name(stem.name + ".html"), stem.with_name(stem.name + ".png")
    chart.save(str(html))
    chart.save(str(png), format="png")  # rendered by vl-convert-python, no browser needed
    return html, png
