"""Shared by the test suite and the notebooks nbval runs: where the benchmark tables are."""

import os
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parent.parent / "shared" / "data"

# Notebook kernels inherit the environment, so they read the tables from here too.
os.environ.setdefault("NASXFER_DATA", str(SHARED_DATA))

# nbval runs every notebook with the CI profile: the RQ notebooks train a tiny grid
# (params/ci.yaml) into outputs/ci instead of rendering the checked-in laptop results, and
# every chart goes to the ignored outputs/ci/figures. A notebook whose `profile` parameter
# is None reads this variable (nasxfer.notebook.PROFILE_ENV).
from nasxfer.notebook import PROFILE_ENV  # noqa: E402

os.environ.setdefault(PROFILE_ENV, "ci")


def pytest_collection_modifyitems(items):
    # every notebook cell nbval runs belongs to a kernel session: slow (see the `slow` marker)
    import pytest

    for item in items:
        if type(item).__name__ == "IPyNbCell":
            item.add_marker(pytest.mark.slow)
