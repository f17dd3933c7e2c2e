"""Policy calculator: what a per-image false-match rate means for accounts, moderators and detection speed.

Why: a per-pair rate such as 3e-7 says little by itself. What a provider, a regulator or a critic wants to know is
how many innocent accounts a year get flagged for human review, how much review work that creates, and how long
an account sharing listed images goes undetected, all as a function of the account threshold t (the number of
matches before anything is revealed). The model is deliberately simple and stated in full in the report:

* each innocent image falsely matches *some* entry of a list of ``list_size`` entries with probability
  ``p_image = 1 − (1 − per_image_fp_rate)^list_size`` where ``per_image_fp_rate`` is the false-match rate of one
  innocent image against ONE list entry (the per-pair rate measured by the false-positive study), independently;
* an account sends ``images_per_day`` images, so ``n = images_per_day × days`` images a year;
* it is falsely flagged when at least t of them match: P[Binomial(n, p_image) ≥ t], computed in log space;
* synthetic vouchers (rate ``synthetic_rate`` per image, as in Apple's PSI design) add server-visible matches that
  unlock nothing; they change what the server sees, not who is flagged, and are reported separately;
* an offending account sharing ``listed_per_day`` listed images a day, each detected with probability ``recall``,
  is flagged on the first day its detected count reaches t.

Independence between images is an assumption (near-duplicate photos of one scene are not independent); the
report says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from blindmatch.eval.errors import InvalidParameterError
from blindmatch.eval.stats import log_binom_tail, prob_any_match

__all__ = [
    "APPLE_CLAIM",
    "PolicyResult",
    "detection_delay_days",
    "max_pair_rate_for_goal",
    "policy",
    "policy_sweep",
]

#: Apple's published design goal for its 2021 CSAM detection: at most one in a trillion accounts per year falsely
#: flagged, with an initial threshold of about 30 matches.
APPLE_CLAIM = {"false_flag_probability_per_account_per_year": 1e-12, "threshold": 30}


@dataclass(frozen=True)
class PolicyResult:
    """Outcome of one policy setting (all rates per year)."""

    images_per_day: float
    list_size: int
    per_image_fp_rate: float
    account_threshold_t: int
    synthetic_rate: float
    accounts: int
    days: int
    images_per_year: int
    p_image_matches_list: float
    expected_false_matches_per_account: float
    log10_p_account_flagged: float
    p_account_flagged: float
    falsely_flagged_accounts: float
    moderator_images_to_review: float
    moderator_hours: float
    expected_visible_matches_per_account: float
    p_visible_count_reaches_t: float
    detection_delay_days_median: float | None
    detection_delay_days_p95: float | None
    apple_ratio: float | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _check(name: str, value: float, lo: float, hi: float = math.inf) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and lo <= value <= hi):
        raise InvalidParameterError(f"{name} must be in [{lo}, {hi}], got {value!r}")


def detection_delay_days(
    listed_per_day: int, recall: float, t: int, *, quantile: float = 0.5, max_days: int = 3650
) -> float | None:
    """Days until an account sharing ``listed_per_day`` listed images daily has ≥ t detected matches.

    Returns the smallest d with P[Binomial(listed_per_day × d, recall) ≥ t] ≥ quantile, or None if not within
    ``max_days`` (e.g. recall 0, or no listed images shared).
    """
    _check("listed_per_day", listed_per_day, 0)
    _check("recall", recall, 0.0, 1.0)
    _check("quantile", quantile, 0.0, 1.0)
    if t <= 0:
        return 0.0
    if listed_per_day == 0 or recall == 0.0:
        return None
    target = math.log(quantile) if quantile > 0 else -math.inf

    def reached(d: int) -> bool:
        return log_binom_tail(int(listed_per_day) * d, recall, t) >= target

    if not reached(max_days):
        return None
    lo, hi = 0, max_days  # reached(hi) is True, reached(0) is False
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if reached(mid):
            hi = mid
        else:
            lo = mid
    return float(hi)


def policy(
    images_per_day: float,
    list_size: int,
    per_image_fp_rate: float,
    account_threshold_t: int,
    synthetic_rate: float = 0.0,
    accounts: int = 1_000_000_000,
    *,
    days: int = 365,
    review_minutes_per_image: float = 1.0,
    listed_per_day: int = 1,
    recall: float = 0.9,
) -> PolicyResult:
    """Expected false flags, moderator workload and detection delay for one setting (see the module text)."""
    _check("images_per_day", images_per_day, 0)
    _check("list_size", list_size, 0)
    _check("per_image_fp_rate", per_image_fp_rate, 0.0, 1.0)
    _check("synthetic_rate", synthetic_rate, 0.0, 1.0)
    _check("accounts", accounts, 0)
    _check("days", days, 1)
    _check("review_minutes_per_image", review_minutes_per_image, 0)
    if not isinstance(account_threshold_t, int) or account_threshold_t < 1:
        raise InvalidParameterError(f"account_threshold_t must be an integer ≥ 1, got {account_threshold_t!r}")
    t = account_threshold_t
    n = round(images_per_day * days)
    p_img = prob_any_match(per_image_fp_rate, list_size)
    log_tail = log_binom_tail(n, p_img, t)
    p_flag = math.exp(log_tail) if log_tail > -745 else 0.0
    flagged = p_flag * accounts
    # A flagged account reveals its matching vouchers; a moderator reviews at least t images (the expected number
    # of false matches of an account *given* it reached t is ≈ t when flags are rare).
    conditional = max(float(t), n * p_img)
    review_images = flagged * conditional
    p_visible = p_img + synthetic_rate - p_img * synthetic_rate
    log_vis = log_binom_tail(n, p_visible, t)
    apple = APPLE_CLAIM["false_flag_probability_per_account_per_year"]
    return PolicyResult(
        images_per_day=float(images_per_day),
        list_size=int(list_size),
        per_image_fp_rate=float(per_image_fp_rate),
        account_threshold_t=t,
        synthetic_rate=float(synthetic_rate),
        accounts=int(accounts),
        days=int(days),
        images_per_year=n,
        p_image_matches_list=p_img,
        expected_false_matches_per_account=n * p_img,
        log10_p_account_flagged=log_tail / math.log(10) if log_tail != -math.inf else -math.inf,
        p_account_flagged=p_flag,
        falsely_flagged_accounts=flagged,
        moderator_images_to_review=review_images,
        moderator_hours=review_images * review_minutes_per_image / 60.0,
        expected_visible_matches_per_account=n * p_visible,
        p_visible_count_reaches_t=math.exp(log_vis) if log_vis > -745 else 0.0,
        detection_delay_days_median=detection_delay_days(listed_per_day, recall, t, quantile=0.5),
        detection_delay_days_p95=detection_delay_days(listed_per_day, recall, t, quantile=0.95),
        apple_ratio=(p_flag / apple) if p_flag > 0 else 0.0,
    )


def max_pair_rate_for_goal(
    images_per_day: float,
    list_size: int,
    account_threshold_t: int,
    goal: float = APPLE_CLAIM["false_flag_probability_per_account_per_year"],
    *,
    days: int = 365,
) -> float:
    """The largest per-pair false-match rate for which P[innocent account flagged in a year] ≤ ``goal``.

    Found by bisection on log10(rate) in [−40, 0]; the flag probability is monotone in the rate.
    """
    _check("goal", goal, 0.0, 1.0)
    if goal <= 0.0:
        return 0.0
    n = round(images_per_day * days)
    log_goal = math.log(goal)

    def ok(log10_rate: float) -> bool:
        p_img = prob_any_match(10.0**log10_rate, list_size)
        return log_binom_tail(n, p_img, account_threshold_t) <= log_goal

    lo, hi = -40.0, 0.0
    if ok(hi):
        return 1.0
    if not ok(lo):
        return 0.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return float(10.0**lo)


def policy_sweep(thresholds: Sequence[int], **kwargs: object) -> list[PolicyResult]:
    """:func:`policy` at each threshold t, all other arguments fixed (for the plots against t)."""
    return [policy(account_threshold_t=t, **kwargs) for t in thresholds]  # type: ignore[arg-type]
