"""A saved search comparison: its results folder on disk."""

import json

import pandas as pd
import pytest

from nasxfer.errors import NasxferError
from nasxfer.search_efficiency import load_comparison, save_comparison


def test_results_round_trip_atomically(tmp_path, small):
    out = save_comparison(small, tmp_path / "res", {"trials": 4})
    loaded, config = load_comparison(out)
    pd.testing.assert_frame_equal(loaded, small, check_dtype=False)
    assert config["trials"] == 4 and "nasxfer_version" in config
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "results.parquet"]  # no temp files left
    json.loads((out / "config.json").read_text())
    with pytest.raises(NasxferError, match="run_fresh"):
        load_comparison(tmp_path / "missing")
