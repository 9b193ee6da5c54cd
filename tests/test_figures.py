"""Figure files, the notebook renderer, task colours and tooltips (the browser checks are in test_browser.py)."""

import base64
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import altair as alt
import pandas as pd
import pytest

from nasxfer import figures
from nasxfer.figures import VEGA_MIME
from nasxfer.stats import crossover_table, curve_bands, transfer_matrix

LAPTOP = Path(__file__).resolve().parents[1] / "outputs" / "laptop"


@pytest.fixture(scope="module")
def laptop():
    return pd.read_parquet(LAPTOP / "results.parquet"), pd.read_parquet(LAPTOP / "curves.parquet")


def small_chart():
    df = pd.DataFrame({"task": ["class_object", "jigsaw", "autoencoder"], "mean": [0.2, 0.5, 0.9]})
    return alt.Chart(df).mark_bar().encode(x="mean:Q", y="task:N", color=figures.task_colour(df["task"]))


def test_importing_changes_no_altair_state():
    code = (
        "import altair as alt; before = alt.renderers.active; import nasxfer.figures, nasxfer.report; "
        "assert alt.renderers.active == before, alt.renderers.active; "
        "assert 'nasxfer' not in alt.renderers.names(), alt.renderers.names()"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_offline_renderer_shows_vega_and_png():
    before = figures.use_offline_renderer()
    try:
        assert alt.renderers.active == "nasxfer"
        bundle, meta = small_chart()._repr_mimebundle_()
    finally:
        alt.renderers.enable(before)
    # Vega for JupyterLab (which renders no vega-lite 6), a PNG for everything else; no CDN-loading HTML
    assert set(bundle) == {VEGA_MIME, "image/png", "text/plain"}
    vega = bundle[VEGA_MIME]
    assert vega["$schema"].endswith("/vega/v5.json") and vega["marks"]
    assert sorted(v["task"] for v in vega["data"][0]["values"]) == ["autoencoder", "class_object", "jigsaw"]
    png = base64.b64decode(bundle["image/png"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert meta["image/png"]["width"] == int.from_bytes(png[16:20], "big")  # scale 1: CSS size = pixel size


def test_save_chart_writes_png_svg_and_an_offline_page(tmp_path):
    paths = figures.save_chart(small_chart(), tmp_path / "figs" / "a")
    figures.save_chart(small_chart(), tmp_path / "figs" / "b")
    assert {p.name for p in paths.values()} == {"a.png", "a.svg", "a.html"}
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = ET.parse(paths["svg"]).getroot()
    assert svg.tag.endswith("svg") and len(svg.findall(".//{http://www.w3.org/2000/svg}path")) >= 3
    page = paths["html"].read_text()
    scripts = re.findall(r'<script src="([^"]+)"', page)
    assert scripts == [f"vendor/{figures.VENDOR_FILE}"]
    assert (paths["html"].parent / scripts[0]).stat().st_size > 500_000  # vega + vega-lite + vega-embed
    assert "cdn" not in page.lower() and '<img src="a.png"' in page
    # one copy of the JavaScript for the whole folder, and no temporary files left behind
    assert sorted(p.name for p in (tmp_path / "figs").rglob("*")) == sorted(
        ["a.html", "a.png", "a.svg", "b.html", "b.png", "b.svg", "vendor", figures.VENDOR_FILE]
    )


def _nodes(spec):
    """Every mapping in a chart's spec, depth first."""
    if isinstance(spec, dict):
        yield spec
        for v in spec.values():
            yield from _nodes(v)
    elif isinstance(spec, list):
        for v in spec:
            yield from _nodes(v)


def _colour_scale(chart) -> dict:
    """task -> colour of the first colour scale in a chart's spec."""
    for node in _nodes(chart.to_dict()):
        if "color" in node and isinstance(node["color"], dict) and "range" in node["color"].get("scale", {}):
            return dict(zip(node["color"]["scale"]["domain"], node["color"]["scale"]["range"]))
    raise AssertionError("no colour scale in the chart")


def test_one_colour_per_task_across_figures(laptop):
    results, curves = laptop
    sweep = pd.DataFrame({"task": ["segmentsemantic", "class_object"], "gamma": [1.0, 1.0], "spread": [0.1, 0.2]})
    hist = pd.DataFrame(
        {"task": ["autoencoder", "room_layout", "class_object"], "bin_start": 0.0, "bin_end": 0.1, "share": 1.0}
    )
    cross = crossover_table(curves[curves.target == "room_layout"])
    scales = [
        _colour_scale(figures.gamma_sweep_chart(sweep, sweep)),
        _colour_scale(figures.reward_distribution_chart(hist)),
        _colour_scale(figures.crossover_chart(cross, "steps")),
    ]
    # each legend lists only the tasks its chart shows ...
    assert sorted(scales[0]) == ["class_object", "segmentsemantic"]
    assert sorted(scales[2]) == sorted(cross.source.unique())
    # ... and a task has the same colour wherever it appears
    for s in scales:
        assert all(colour == figures.TASK_COLOURS[task] for task, colour in s.items())
    assert len(set(figures.TASK_COLOURS.values())) == len(figures.ALL_TASKS) == 10


def _tooltips(chart) -> set:
    fields = set()
    for node in _nodes(chart.to_dict()):
        tip = node.get("tooltip")
        for t in tip if isinstance(tip, list) else [tip] if isinstance(tip, dict) else []:
            fields.add(t["field"])
    return fields


def test_aggregate_marks_have_ci_tooltips(laptop):
    results, curves = laptop
    one = curves[curves.target == "room_layout"]
    matrices = pd.concat([transfer_matrix(results, r) for r in ("zero_shot", "retrain")], ignore_index=True)
    stats = {"mean", "ci_low", "ci_high", "n"}
    charts = {
        "matrix": (
            figures.transfer_matrix_chart(matrices[matrices.regime == "retrain"], "t"),
            {"source", "target", "regime"},
        ),
        "regimes": (figures.regimes_chart(matrices), {"source", "target", "regime"}),
        "curves": (
            figures.training_curves_chart(curve_bands(one.groupby(["seed", "source", "target"]).head(3))),
            {"source", "target"},
        ),
        "crossover": (figures.crossover_chart(crossover_table(one), "steps"), {"source", "target"}),
    }
    for name, (chart, keys) in charts.items():
        missing = (stats | keys) - _tooltips(chart)
        assert not missing, f"{name}: tooltip lacks {missing}"


# ---- the paper's figures: matrix cells (Fig. 5-7) and hatched cross-over bars (Fig. 10/11) ----


def test_matrix_cells_print_mean_std_and_ci_as_the_paper(laptop):
    results, _ = laptop
    for regime in ("retrain", "fine_tune", "zero_shot"):  # Fig. 5, 6, 7
        m = transfer_matrix(results, regime)
        svg = figures.vlc.vegalite_to_svg(figures.transfer_matrix_chart(m, "t").to_dict())
        for row in m.itertuples():
            mean, std, ci = f"{row.mean:.4g}", f"± {row.std:.2g}", f"[{row.ci_low:.4g}, {row.ci_high:.4g}]"
            three_lines = f'<tspan>{mean}</tspan><tspan x="0" dy="13">{std}</tspan><tspan x="0" dy="13">{ci}'
            assert three_lines in svg, (regime, row.source, row.target)


def _png_pixels(png: bytes):
    """Rows of (r, g, b) of an 8-bit RGBA, non-interlaced PNG (what vl-convert writes)."""
    import struct
    import zlib

    pos, data, width, height = 8, b"", 0, 0
    while pos < len(png):
        n, kind = struct.unpack(">I4s", png[pos : pos + 8])
        body = png[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert (depth, colour) == (8, 6), "not 8-bit RGBA"
        elif kind == b"IDAT":
            data += body
        pos += 12 + n
    raw, stride, rows, prev = zlib.decompress(data), 4 * width, [], bytearray(4 * width)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - 4] if i >= 4 else 0
            b, c = prev[i], prev[i - 4] if i >= 4 else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[i : i + 3]) for i in range(0, stride, 4)])
        prev = line
    return rows


def _near(px, colour: str) -> bool:
    return sum(abs(p - int(colour[i : i + 2], 16)) for p, i in zip(px, (1, 3, 5))) < 40


def _stripes(row, colour) -> int:
    """How often a row of pixels switches between `colour` and white (antialiased edges skipped)."""
    near = ["c" if _near(px, colour) else "w" if min(px) > 235 else None for px in row]
    seq = [k for k in near if k]
    return sum(a != b for a, b in zip(seq, seq[1:]))


def test_crossover_bars_hatch_scratch_in_svg_and_png():
    """Vega-Lite has no hatch; the gradient hatch must survive vl-convert's SVG and PNG."""
    table = pd.DataFrame(
        {
            "source": ["class_object", "room_layout"],
            "target": "class_object",
            "pairs": [6, 9],
            "crossed": [3, 9],
            "mean": [9000.0, 2000.0],
            "std": 1.0,
            "ci_low": [8000.0, 1000.0],
            "ci_high": [10000.0, 3000.0],
            "n": [6, 9],
            "verdict": ["scratch", "sooner"],
        }
    )
    spec = figures.crossover_chart(table, "steps").to_dict()
    svg = figures.vlc.vegalite_to_svg(spec)
    hatched = re.findall(r'<path aria-label="([^"]*)"[^>]*fill="url\(#gradient', svg)
    assert len(hatched) == 1 and "source: class_object; target: class_object" in hatched[0]  # the scratch bar only
    assert svg.count("<stop ") == 4 * figures.HATCH_STRIPES
    rows = _png_pixels(figures.vlc.vegalite_to_png(spec, scale=1))
    colour = figures.TASK_COLOURS["class_object"]
    scratch_x = max(range(len(rows[0])), key=lambda x: _stripes([r[x] for r in rows], colour))
    assert _stripes([r[scratch_x] for r in rows], colour) >= 10  # hatched: stripes down the scratch bar
    plain = figures.TASK_COLOURS["room_layout"]
    plain_x = max(range(len(rows[0])), key=lambda x: sum(_near(r[x], plain) for r in rows))
    assert sum(_near(r[plain_x], plain) for r in rows) > 50  # the transferred bar is there ...
    assert _stripes([r[plain_x] for r in rows], plain) <= 2  # ... in one plain fill


def test_tasks_are_ordered_once_each_whatever_their_benchmark():
    """Axes list every task once, in the fixed task order; a task named with its benchmark sorts
    and colours as the task itself (cross-space grids)."""
    names = ["segmentsemantic", "cifar100", "transnas-bench-101/class_object", "autoencoder", "cifar100", "zzz"]
    assert figures.task_order(names) == [
        "transnas-bench-101/class_object",
        "segmentsemantic",
        "autoencoder",
        "cifar100",
        "zzz",
    ]
    assert figures.colour_of("transnas-bench-101/class_object") == figures.colour_of("class_object")
    assert figures.colour_of("zzz") == figures.OTHER_COLOUR
    m = pd.DataFrame(
        [
            {
                "source": s,
                "target": t,
                "regime": "retrain",
                "n": 3,
                "mean": 1.0,
                "std": 0.1,
                "ci_low": 0.9,
                "ci_high": 1.1,
                "scratch_mean": 1.0,
                "diff": 0.0,
                "verdict": "scratch" if s == t else "n/a",
            }
            for s in ("autoencoder", "class_object")
            for t in ("class_object", "room_layout")
        ]
    )
    spec = figures.transfer_matrix_chart(m, "t").to_dict()
    sort = spec["layer"][0]["encoding"]["x"]["sort"]
    assert sort == ["class_object", "room_layout", "autoencoder"][:0] + figures.task_order(
        set(m.source) | set(m.target)
    )
    assert len(sort) == len(set(sort)) == 3
