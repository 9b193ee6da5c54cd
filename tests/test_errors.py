"""One integer check for every count: booleans, floats and strings are refused, naming the field."""

import pytest

from nasxfer.errors import NasxferError, check_int
from nasxfer.grid import GridConfig


@pytest.mark.parametrize("bad", [True, False, 1.0, "3", None])
def test_check_int_refuses_what_is_not_an_integer(bad):
    with pytest.raises(NasxferError, match="train_steps must be an integer >= 1"):
        check_int(bad, "train_steps", 1)


def test_check_int_refuses_below_the_minimum_and_keeps_integers():
    assert check_int(5, "x", 1) == 5
    with pytest.raises(NasxferError, match="x must be an integer >= 1, got 0"):
        check_int(0, "x", 1)


@pytest.mark.parametrize("field, value", [("seeds", [True]), ("train_steps", True), ("eval_episodes", 2.0)])
def test_grid_refuses_booleans_and_floats_as_counts(field, value):
    with pytest.raises(NasxferError, match=f"grid.{field}"):
        GridConfig(**{field: value})
