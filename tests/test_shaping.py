"""Normalisation, the gamma and alpha transforms, and the gamma sweep."""

import numpy as np
import pytest

from nasxfer.errors import NasxferError
from nasxfer.shaping import Normaliser, RewardShaper, alpha_transform, best_gamma, gamma_sweep, gamma_transform, spread


def test_every_task_normalises_into_unit_interval(bench):
    for task in bench.tasks:
        r = RewardShaper.fit(bench, task, "none")(bench.table(task).valid)
        assert r.min() >= 0 and r.max() <= 1


def test_natural_scales_and_minmax():
    assert Normaliser.for_metric("top1", np.array([20.0]))(46.0) == pytest.approx(0.46)
    assert Normaliser.for_metric("ssim", np.array([0.1]))(0.5) == pytest.approx(0.5)
    mm = Normaliser.for_metric("neg_loss", np.array([-1.0, -0.5, -0.75]))
    assert mm(-1.0) == 0 and mm(-0.5) == 1 and mm(-0.75) == pytest.approx(0.5)
    with pytest.raises(NasxferError, match="unknown metric"):
        Normaliser.for_metric("bleu", np.array([1.0]))


def test_gamma_below_one_lifts_and_above_one_lowers():
    r = np.array([0.0, 0.04, 0.25, 1.0])
    assert np.allclose(gamma_transform(r, 0.5), [0, 0.2, 0.5, 1])
    assert (gamma_transform(r[1:3], 2) < r[1:3]).all()
    with pytest.raises(NasxferError, match="gamma must be > 0"):
        gamma_transform(r, 0)


def test_alpha_fixes_the_ends_and_stretches_the_top():
    r = np.linspace(0, 1, 101)
    out = alpha_transform(r, 5.0)
    assert out[0] == pytest.approx(0) and out[-1] == pytest.approx(1) and (np.diff(out) > 0).all()
    assert out[-1] - out[-11] > r[-1] - r[-11]  # the top decile is spread wider
    assert np.array_equal(alpha_transform(r, 0), r)


def test_sweep_picks_the_widest_spread():
    r = np.random.default_rng(0).uniform(0.05, 0.25, 1000)  # low rewards, like mIoU
    sweep = gamma_sweep(r)
    g = best_gamma(r)
    assert sweep.spread.max() == pytest.approx(spread(r**g))
    assert g < 1


def test_segmentsemantic_gets_gamma_below_one(bench):
    assert RewardShaper.fit(bench, "segmentsemantic").param < 1
    assert RewardShaper.fit(bench, "segmentsemantic", "gamma", 2.0).param == 2.0


def test_bad_shaping_arguments(bench):
    with pytest.raises(NasxferError, match="unknown reward transform 'log'"):
        RewardShaper.fit(bench, "class_object", "log")
    with pytest.raises(NasxferError, match="gamma must be > 0"):
        RewardShaper.fit(bench, "class_object", "gamma", -1.0)


# ---- the paper's choice (shaping_param "paper") beside the sweep ("auto") -------------------------


def test_paper_shapes_only_segmentsemantic_at_0478(bench):
    from nasxfer.shaping import PAPER_GAMMAS

    assert PAPER_GAMMAS == {"segmentsemantic": 0.478}
    seg = RewardShaper.fit(bench, "segmentsemantic", "gamma", "paper")
    assert (seg.transform, seg.param) == ("gamma", 0.478)
    valid = bench.table("segmentsemantic").valid
    assert np.allclose(seg(valid), (valid / 100) ** 0.478)
    for task in ("class_object", "room_layout", "autoencoder"):
        s = RewardShaper.fit(bench, task, "gamma", "paper")
        assert s.transform == "none", task
        assert np.array_equal(s(bench.table(task).valid), s.normaliser(bench.table(task).valid))


def test_room_layout_unshaped_is_its_loss_min_max_scaled(bench):
    """Its metric is negative; unshaped, the reward is the loss mapped affinely onto [0, 1]:
    the worst cell 0, the best 1, the order of cells kept."""
    valid = bench.table("room_layout").valid
    assert valid.max() < 0
    r = RewardShaper.fit(bench, "room_layout", "gamma", "paper")(valid)
    assert r.min() == 0 and r.max() == 1
    assert np.allclose(r, (valid - valid.min()) / (valid.max() - valid.min()))
    assert (np.argsort(r, kind="stable") == np.argsort(valid, kind="stable")).all()


def test_auto_keeps_the_sweep_and_differs_from_the_paper(bench):
    auto = RewardShaper.fit(bench, "segmentsemantic", "gamma", "auto").param
    assert auto == 0.5 and auto != 0.478
    assert RewardShaper.fit(bench, "room_layout", "gamma", "auto").param == 2.75


@pytest.mark.parametrize(
    "transform, param, words",
    [
        ("gamma", "papr", "shaping_param must be a number, 'paper'"),
        ("gamma", True, "e.g. shaping_param: paper"),
        ("alpha", "paper", "set shaping: gamma, or give alpha a number"),
    ],
)
def test_bad_shaping_param_names_the_fix(bench, transform, param, words):
    with pytest.raises(NasxferError) as e:
        RewardShaper.fit(bench, "segmentsemantic", transform, param)
    assert words in str(e.value)
