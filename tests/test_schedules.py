"""Learning-rate schedules: each formula, and its use by fit (recorded in history.lr)."""
import math

import pytest

from fastbp import schedules


@pytest.mark.parametrize("schedule,expected", [
    (schedules.Constant(), [0.1, 0.1, 0.1, 0.1]),
    (schedules.Step(step_size=2, gamma=0.5), [0.1, 0.1, 0.05, 0.05]),
    (schedules.Exponential(gamma=0.9), [0.1, 0.09, 0.081, 0.0729]),
    (schedules.InverseScaling(power_t=0.5), [0.1, 0.1 / math.sqrt(2), 0.1 / math.sqrt(3), 0.05]),
    (schedules.Cosine(epochs=4), [0.1, 0.05 * (1 + math.cos(math.pi / 4)), 0.05, 0.05 * (1 + math.cos(3 * math.pi / 4))]),
    (schedules.Cosine(epochs=5, warmup=2, min_lr=0.01), [0.1 / 3, 0.2 / 3, 0.1, 0.01 + 0.045 * (1 + math.cos(math.pi / 3))]),
])
def test_schedule_formulas(schedule, expected):
    assert [schedule.lr(t, 0.1) for t in range(4)] == pytest.approx(expected, rel=1e-12)


def test_cosine_stays_at_min_lr_after_its_epochs():
    assert schedules.Cosine(epochs=3, min_lr=0.001).lr(10, 0.1) == pytest.approx(0.001)


def test_reduce_on_plateau_cuts_after_patience():
    plateau = schedules.ReduceOnPlateau(factor=0.5, patience=1, min_delta=0.0, monitor="loss")
    rates = []
    for loss in [1.0, 0.5, 0.6, 0.6, 0.4, 0.7, 0.7]:
        rates.append(plateau.lr(0, 0.2))
        plateau.observe({"loss": loss})
    assert rates == pytest.approx([0.2, 0.2, 0.2, 0.2, 0.1, 0.1, 0.1])
    assert plateau.lr(0, 0.2) == pytest.approx(0.05)


def test_plateau_falls_back_to_training_loss_without_validation():
    plateau = schedules.ReduceOnPlateau(factor=0.5, patience=0)
    plateau.observe({"loss": 1.0})
    plateau.observe({"loss": 1.0})
    assert plateau.lr(0, 1.0) == 0.5


@pytest.mark.parametrize("make", [
    lambda: schedules.Step(step_size=0), lambda: schedules.Exponential(gamma=0),
    lambda: schedules.Cosine(epochs=3, warmup=3), lambda: schedules.ReduceOnPlateau(factor=1.5),
    lambda: schedules.InverseScaling(power_t=-1),
])
def test_bad_schedule_settings(make):
    with pytest.raises(ValueError):
        make()


def test_resolve():
    assert isinstance(schedules.resolve(None), schedules.Constant)
    assert isinstance(schedules.resolve("cosine"), schedules.Cosine)
    with pytest.raises(ValueError, match="unknown schedule"):
        schedules.resolve("linear-ish")
