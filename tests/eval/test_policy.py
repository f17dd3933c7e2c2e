"""The policy calculator: monotone where it must be, consistent with the binomial model, strict on input."""

from __future__ import annotations

import itertools
import math

import pytest

from blindmatch.eval.errors import InvalidParameterError
from blindmatch.eval.policy import detection_delay_days, policy, policy_sweep


def test_false_flags_fall_and_delay_grows_with_threshold() -> None:
    sweep = policy_sweep(range(1, 41), images_per_day=50, list_size=1_000_000, per_image_fp_rate=1e-10, accounts=10**9)
    logs = [r.log10_p_account_flagged for r in sweep]
    assert all(b < a for a, b in itertools.pairwise(logs))
    flagged = [r.falsely_flagged_accounts for r in sweep]
    assert all(b <= a for a, b in itertools.pairwise(flagged))
    delays = [r.detection_delay_days_median for r in sweep]
    assert all(d is not None for d in delays)
    assert all(b >= a for a, b in itertools.pairwise(delays))  # type: ignore[operator]
    assert delays[-1] > delays[0]  # type: ignore[operator]


def test_policy_matches_hand_computation() -> None:
    r = policy(10, 1000, 1e-6, 2, 0.0, 1_000_000, days=100)
    p_img = 1 - (1 - 1e-6) ** 1000
    n = 1000
    p_flag = 1 - (1 - p_img) ** n - n * p_img * (1 - p_img) ** (n - 1)
    assert r.images_per_year == n
    assert r.p_image_matches_list == pytest.approx(p_img, rel=1e-9)
    assert r.p_account_flagged == pytest.approx(p_flag, rel=1e-6)
    assert r.falsely_flagged_accounts == pytest.approx(p_flag * 1_000_000, rel=1e-6)


def test_more_images_or_bigger_list_means_more_false_flags() -> None:
    base = policy(50, 10**6, 1e-9, 5)
    assert policy(200, 10**6, 1e-9, 5).p_account_flagged > base.p_account_flagged
    assert policy(50, 10**7, 1e-9, 5).p_account_flagged > base.p_account_flagged


def test_synthetic_vouchers_change_visibility_not_flags() -> None:
    a = policy(50, 10**6, 1e-9, 10, synthetic_rate=0.0)
    b = policy(50, 10**6, 1e-9, 10, synthetic_rate=0.01)
    assert a.p_account_flagged == b.p_account_flagged
    assert b.expected_visible_matches_per_account > a.expected_visible_matches_per_account
    assert b.p_visible_count_reaches_t > a.p_visible_count_reaches_t


def test_apple_comparison_at_t30() -> None:
    r = policy(50, 10**6, 1e-12, 30)
    assert r.log10_p_account_flagged < -12
    assert r.apple_ratio is not None and r.apple_ratio < 1
    worse = policy(50, 10**6, 1e-6, 30)
    assert worse.apple_ratio is not None and worse.apple_ratio > 1


def test_detection_delay() -> None:
    assert detection_delay_days(1, 1.0, 30) == 30.0
    assert detection_delay_days(10, 1.0, 30) == 3.0
    assert detection_delay_days(1, 0.0, 5) is None
    median = detection_delay_days(2, 0.5, 10)
    assert median is not None and 9 <= median <= 11


@pytest.mark.parametrize(
    "kwargs",
    [
        {"per_image_fp_rate": 1.5},
        {"per_image_fp_rate": math.nan},
        {"images_per_day": -1},
        {"account_threshold_t": 0},
        {"synthetic_rate": -0.1},
    ],
)
def test_bad_inputs_raise(kwargs: dict[str, float]) -> None:
    args: dict[str, float] = {
        "images_per_day": 10,
        "list_size": 100,
        "per_image_fp_rate": 1e-6,
        "account_threshold_t": 3,
    }
    args.update(kwargs)
    with pytest.raises(InvalidParameterError):
        policy(**args)  # type: ignore[arg-type]


def test_max_pair_rate_for_goal_hits_the_goal() -> None:
    from blindmatch.eval.policy import max_pair_rate_for_goal

    rates = [max_pair_rate_for_goal(50, 10**6, t) for t in (1, 5, 30)]
    assert rates[0] < rates[1] < rates[2]  # a higher threshold tolerates a worse hash
    for t, r in zip((1, 5, 30), rates, strict=True):
        assert policy(50, 10**6, r, t).p_account_flagged == pytest.approx(1e-12, rel=1e-6)
        assert policy(50, 10**6, r * 1.01, t).p_account_flagged > 1e-12
