"""Extension point: evaluate any matcher (e.g. private matching end to end) on the same grid as plain Hamming.

Why: the privacy layer (tokens, vouchers, threshold) must lose as little recall as possible and add no false
matches compared with plain PDQ matching. Rather than re-implement the robustness grid, a later evaluation hands
:func:`evaluate_matcher` a *matcher* — anything that, after ``enroll`` of the listed hashes, answers which entries
a query hash matches — and gets recall per transform and false matches on exactly the same hashed cells.

:class:`HammingMatcher` is the reference implementation (plain threshold on the 256-bit distance); it is what the
private pipeline should be compared with. No private matcher is provided here: ``blindmatch.privacy`` will
supply one (for instance a class whose ``enroll`` builds the server's blinded set and whose ``query`` runs the
client and server steps) and this module needs no change to grade it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np

from blindmatch.eval.compute import ORIGINAL, HashTable
from blindmatch.eval.metrics import listed_eligible
from blindmatch.eval.transforms import get_transform

__all__ = ["HammingMatcher", "Matcher", "MatcherGrid", "evaluate_matcher"]


class Matcher(Protocol):
    """Anything that can be loaded with a list and then asked which entries a query matches."""

    @property
    def name(self) -> str: ...

    def enroll(self, listed_hex: Sequence[str]) -> None:
        """Load the list (hex hashes, position = entry id)."""

    def query(self, query_hex: Sequence[str], quality: int | None) -> set[int]:
        """Entry ids matched by a query given as 1 hash or its 8 dihedral hashes, and its quality."""
        ...


class HammingMatcher:
    """Reference matcher: Hamming distance ≤ threshold to any of the query hashes, quality gate applied."""

    def __init__(self, threshold: int = 31, min_quality: int | None = 50) -> None:
        self.threshold = threshold
        self.min_quality = min_quality
        self.name = f"hamming<={threshold}"
        self._list = np.zeros((0, 0), dtype=np.uint8)

    def enroll(self, listed_hex: Sequence[str]) -> None:
        self._list = np.array([np.frombuffer(bytes.fromhex(h), dtype=np.uint8) for h in listed_hex])

    def query(self, query_hex: Sequence[str], quality: int | None) -> set[int]:
        if self.min_quality is not None and (quality is None or quality < self.min_quality):
            return set()
        q = np.array([np.frombuffer(bytes.fromhex(h), dtype=np.uint8) for h in query_hex])
        d = np.bitwise_count(q[:, None, :] ^ self._list[None, :, :]).sum(axis=-1).min(axis=0)
        return {int(i) for i in np.flatnonzero(d <= self.threshold)}


@dataclass(frozen=True)
class MatcherGrid:
    """Per-transform recall (query must match its own entry) and wrong-entry matches of one matcher."""

    matcher: str
    dihedral: bool
    recall: dict[str, float]
    wrong_entry_matches: dict[str, int]
    innocent_queries: int
    innocent_false_matches: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _hexes(table: HashTable, i: int, j: int, dihedral: bool) -> list[str]:
    if dihedral and table.dihedral is not None:
        return [bytes(row).hex() for row in table.dihedral[i, j]]
    return [bytes(table.plain[i, j]).hex()]


def evaluate_matcher(
    matcher: Matcher,
    listed: HashTable,
    innocent: HashTable | None = None,
    *,
    min_quality: int | None = 50,
    dihedral: bool = False,
) -> MatcherGrid:
    """Run ``matcher`` over every cell of the hashed grid (listed originals enrolled, eligible ones only)."""
    elig = np.flatnonzero(listed_eligible(listed, min_quality))
    matcher.enroll([bytes(listed.plain[i, 0]).hex() for i in elig])
    entry_of = {int(i): k for k, i in enumerate(elig)}
    recall: dict[str, float] = {}
    wrong: dict[str, int] = {}
    for j, name in enumerate(listed.columns):
        if name == ORIGINAL:
            continue
        get_transform(name)
        hit = miss_wrong = 0
        for i in (int(x) for x in elig):
            if not listed.ok[i, j]:
                continue
            q = int(listed.quality[i, j])
            got = matcher.query(_hexes(listed, i, j, dihedral), None if q < 0 else q)
            hit += entry_of[i] in got
            miss_wrong += len(got - {entry_of[i]})
        recall[name] = hit / len(elig)
        wrong[name] = miss_wrong
    n_inn = fm = 0
    if innocent is not None:
        for i in range(len(innocent.paths)):
            if not innocent.ok[i, 0]:
                continue
            q = int(innocent.quality[i, 0])
            n_inn += 1
            fm += len(matcher.query(_hexes(innocent, i, 0, dihedral), None if q < 0 else q))
    return MatcherGrid(matcher.name, dihedral, recall, wrong, n_inn, fm)
