"""Cells: index <-> op tuple <-> string, neighbours."""

import numpy as np
import pytest

from nasxfer.errors import NasxferError
from nasxfer.search_space import NB201Space, TransNASMicroSpace


@pytest.fixture(params=[TransNASMicroSpace, NB201Space], ids=["transnas", "nb201"])
def space(request):
    return request.param()


def test_index_ops_string_round_trip(space):
    idx = np.arange(space.size)
    assert np.array_equal(space.from_ops(space.to_ops(idx)), idx)
    for i in (0, 1, space.size // 3, space.size - 1):
        assert space.from_string(space.to_string(i)) == i
        assert space.index(space.to_string(i)) == space.index(tuple(space.to_ops(i))) == i


def test_string_digits_are_the_op_codes():
    s = TransNASMicroSpace()
    assert s.to_string(int("302123", 4)) == "64-41414-3_02_123"
    assert tuple(s.to_ops(s.from_string("64-41414-3_02_123"))) == (3, 0, 2, 1, 2, 3)
    assert s.from_ops(("nor_conv_3x3", "none", "nor_conv_1x1", "skip_connect", "nor_conv_1x1", "nor_conv_3x3")) == int(
        "302123", 4
    )


def test_neighbours_are_exactly_one_edit_away_and_symmetric(space):
    table = space.neighbour_table
    assert table.shape == (space.size, 6 * (space.n_ops - 1))
    diffs = (space.codes[table] != space.codes[:, None, :]).sum(-1)
    assert (diffs == 1).all()
    assert len(np.unique(table[7])) == table.shape[1]
    for i in (0, 123, space.size - 1):
        for j in table[i]:
            assert i in table[j]


def test_neighbour_cap_samples_with_the_seed():
    s = NB201Space()
    a = s.neighbours(42, 10, np.random.default_rng(3))
    b = s.neighbours(42, 10, np.random.default_rng(3))
    assert np.array_equal(a, b) and len(a) == 10 and set(a) <= set(s.neighbours(42))
    assert len(s.neighbours(42, 50)) == 24  # fewer than the cap: all of them
    with pytest.raises(NasxferError, match="max_neighbours must be an integer >= 1"):
        s.neighbours(42, 0, np.random.default_rng(0))


@pytest.mark.parametrize("bad", ["64-41414-3_02_12", "|nor_conv_3x3~0|+|none~1|", "x", ""])
def test_malformed_strings_are_refused(bad):
    for space in (TransNASMicroSpace(), NB201Space()):
        with pytest.raises(NasxferError, match="malformed"):
            space.from_string(bad)
