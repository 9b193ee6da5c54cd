"""`nasxfer report`: pages built from executed notebooks, the run's settings, clear errors."""

import json
import re
import shutil
from pathlib import Path

import altair as alt
import nbformat
import pandas as pd
import pytest

from nasxfer.__main__ import main
from nasxfer.errors import NasxferError
from nasxfer.figures import VENDOR_FILE, offline_mimebundle
from nasxfer.report import build_report

pytestmark = pytest.mark.slow  # real Ray training, kernels or subprocesses: minutes

LAPTOP = Path(__file__).resolve().parents[1] / "outputs" / "laptop"


def executed_notebook(path: Path, executed: bool = True) -> Path:
    chart = alt.Chart(pd.DataFrame({"x": [1, 2, 3]})).mark_bar().encode(x="x:Q")
    bundle, meta = offline_mimebundle(chart.to_dict())
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("chart", execution_count=1 if executed else None)
    if executed:
        code.outputs = [nbformat.v4.new_output("execute_result", data=bundle, metadata=meta, execution_count=1)]
    nb.cells = [nbformat.v4.new_markdown_cell("# A chart\n\ntext"), code]
    nbformat.write(nb, path)
    return path


@pytest.fixture
def run(tmp_path):
    run = tmp_path / "laptop"
    run.mkdir()
    shutil.copy(LAPTOP / "config.json", run / "config.json")
    return run


def test_report_states_the_run_and_links_its_notebooks(run, tmp_path):
    nb = executed_notebook(tmp_path / "01_chart.ipynb")
    index = build_report(run, notebooks=[nb])
    assert index == run / "report" / "index.html"
    page = index.read_text()
    config = json.loads((LAPTOP / "config.json").read_text())["grid"]
    for fact in (
        "laptop",
        f"<td>{config['train_steps']}</td>",
        f"<td>{config['finetune_steps']}</td>",
        f"<td>{', '.join(map(str, config['seeds']))}</td>",
        "0.1.0",
        'href="01_chart.html"',
        "A chart",
    ):
        assert fact in page, fact
    nb_page = (run / "report" / "01_chart.html").read_text()
    # the chart's Vega spec and PNG are in the page, the JavaScript is the local copy, no CDN script
    assert nb_page.count('<div class="nasxfer-chart">') == 1 and "data:image/png;base64," in nb_page
    assert re.findall(r'<script src="([^"]+)"', nb_page) == [f"vendor/{VENDOR_FILE}"]
    assert (run / "report" / "vendor" / VENDOR_FILE).is_file()


def test_report_says_what_the_smoothing_window_spans(run, tmp_path):
    nb = executed_notebook(tmp_path / "01_chart.ipynb")
    assert "<th>smoothing</th>" not in build_report(run, notebooks=[nb]).read_text()  # no curves: nothing to say
    curves = pd.read_parquet(LAPTOP / "curves.parquet")  # 135 evaluations per run: the window is fine
    curves.to_parquet(run / "curves.parquet")
    page = build_report(run, notebooks=[nb]).read_text()
    assert "<th>smoothing</th><td>smoothing: a moving average of 16 evaluations over runs of 135 evaluations " in page
    assert "spans 12% of a run (at most 15%: fine)" in page
    # every 8th evaluation kept: 17 per run, and the page says the window is too much of a run
    curves[curves.groupby(["seed", "source", "target"]).cumcount() % 8 == 0].to_parquet(run / "curves.parquet")
    page = build_report(run, notebooks=[nb]).read_text()
    assert "over runs of 17 evaluations spans 94% of a run: too much" in page


def test_report_refuses_bad_input(run, tmp_path):
    with pytest.raises(NasxferError, match="config.json is missing"):
        build_report(tmp_path / "nowhere", notebooks=[])
    with pytest.raises(NasxferError, match="has not been executed"):
        build_report(run, notebooks=[executed_notebook(tmp_path / "raw.ipynb", executed=False)])
    with pytest.raises(NasxferError, match="notebooks not found"):
        build_report(run, notebooks=[tmp_path / "missing.ipynb"])


def test_report_command(run, tmp_path, capsys):
    nb = executed_notebook(tmp_path / "nb.ipynb")
    assert main(["report", str(run), "--notebooks", str(nb), "--out", str(tmp_path / "r")]) == 0
    assert f"report: {tmp_path / 'r' / 'index.html'}" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "config.json is missing" in capsys.readouterr().err
