"""Matplotlib figures for the reports, rendered headless to PNG bytes.

Each function takes plain numbers (no tables, no files) and returns a :class:`~blindmatch.eval.report.Figure`,
so plotting stays a thin, replaceable edge and the numbers behind every figure are also in the JSON.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure as MplFigure

from blindmatch.eval.report import Figure

__all__ = [
    "det_figure",
    "distance_histogram_figure",
    "family_recall_figure",
    "line_figure",
    "tradeoff_figure",
    "transform_recall_figure",
]


def _png(fig: MplFigure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def family_recall_figure(
    families: Sequence[str], recall: Sequence[float], recall_dihedral: Sequence[float | None], caption: str
) -> Figure:
    fig, ax = plt.subplots(figsize=(9, 4))
    x = np.arange(len(families))
    ax.bar(x - 0.2, recall, width=0.4, label="plain")
    ax.bar(x + 0.2, [r if r is not None else 0.0 for r in recall_dihedral], width=0.4, label="with dihedral")
    ax.set_xticks(x, families, rotation=40, ha="right")
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("recall")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower left")
    return Figure("Recall per transform family", caption, _png(fig))


def single_recall_figure(
    families: Sequence[str], recall: Sequence[float], series: str, title: str, caption: str
) -> Figure:
    """One bar per family (for results that have no dihedral counterpart)."""
    fig, ax = plt.subplots(figsize=(9, 4))
    x = np.arange(len(families))
    ax.bar(x, recall, width=0.5, label=series)
    ax.set_xticks(x, families, rotation=40, ha="right")
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("recall")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower left")
    return Figure(title, caption, _png(fig))


def transform_recall_figure(
    names: Sequence[str], recall: Sequence[float], recall_dihedral: Sequence[float | None], caption: str
) -> Figure:
    fig, ax = plt.subplots(figsize=(8, max(4.0, 0.18 * len(names))))
    y = np.arange(len(names))
    ax.barh(y, recall, height=0.8, label="plain", alpha=0.8)
    ax.scatter([r if r is not None else np.nan for r in recall_dihedral], y, s=10, c="k", label="with dihedral")
    ax.set_yticks(y, names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.02)
    ax.set_xlabel("recall")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return Figure("Recall per transform", caption, _png(fig))


def distance_histogram_figure(
    title: str,
    series: Mapping[str, np.ndarray],
    threshold: int,
    bits: int,
    caption: str,
    *,
    log_y: bool = False,
) -> Figure:
    fig, ax = plt.subplots(figsize=(9, 4))
    bins = [i - 0.5 for i in range(bits + 2)]
    for label, d in series.items():
        if d.size:
            ax.hist(d, bins=bins, histtype="step", density=True, label=f"{label} (n={d.size:,})")
    ax.axvline(threshold + 0.5, color="r", ls="--", label=f"threshold ≤ {threshold}")
    ax.set_xlabel(f"Hamming distance (of {bits} bits)")
    ax.set_ylabel("fraction")
    if log_y:
        ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return Figure(title, caption, _png(fig))


def det_figure(
    fmr: Sequence[float], miss: Sequence[float], by_family: Mapping[str, Sequence[float]], n_pairs: int, caption: str
) -> Figure:
    fig, ax = plt.subplots(figsize=(7, 5))
    floor = 0.5 / max(1, n_pairs)
    ax.plot(np.maximum(fmr, floor), np.maximum(miss, 1e-4), "k-", lw=2, label="all transforms")
    for fam, m in by_family.items():
        ax.plot(np.maximum(fmr, floor), np.maximum(m, 1e-4), lw=1, alpha=0.7, label=fam)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"false-match rate per pair (floor {floor:.1e} = no false match observed)")
    ax.set_ylabel("miss rate")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    return Figure(f"DET curve (thresholds 0..{len(fmr) - 1})", caption, _png(fig))


def tradeoff_figure(
    thresholds: Sequence[int], recall: Sequence[float], fmr: Sequence[float], threshold: int, caption: str
) -> Figure:
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(thresholds, recall, "b-", label="recall (all transforms)")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("threshold (Hamming distance ≤ t)")
    ax.set_ylabel("recall", color="b")
    ax.axvline(threshold, color="r", ls="--")
    ax2 = ax.twinx()
    ax2.plot(thresholds, np.maximum(fmr, 1e-12), "g-", label="false-match rate per pair")
    ax2.set_yscale("log")
    ax2.set_ylabel("false-match rate per pair (1e-12 = none)", color="g")
    ax.grid(alpha=0.3)
    return Figure("Threshold trade-off", caption, _png(fig))


def line_figure(
    title: str,
    x: Sequence[float],
    series: Mapping[str, Sequence[float]],
    xlabel: str,
    ylabel: str,
    caption: str,
    *,
    log_y: bool = False,
    hline: tuple[float, str] | None = None,
    vline: tuple[float, str] | None = None,
    hlines: Sequence[tuple[float, str]] = (),
) -> Figure:
    fig, ax = plt.subplots(figsize=(8, 4))
    for label, y in series.items():
        ax.plot(x, y, marker=".", label=label)
    if hline is not None:
        ax.axhline(hline[0], color="r", ls="--", label=hline[1])
    styles = ("--", "-.", ":", (0, (5, 1)))
    for k, (yv, label) in enumerate(hlines):
        ax.axhline(yv, color=f"C{k + 3}", ls=styles[k % len(styles)], label=label)
    if vline is not None:
        ax.axvline(vline[0], color="grey", ls=":", label=vline[1])
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return Figure(title, caption, _png(fig))
