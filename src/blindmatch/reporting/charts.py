"""Charts of the transparency report, rendered headless by matplotlib to inline SVG text.

Why SVG inline: the report is one self-contained HTML file (no external assets, no scripts) that a regulator can
archive; SVG stays sharp when printed and keeps its labels as text (``svg.fonttype = none``). Each function takes
the computed figures only, so every bar is also a number in the tables and the CSV.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from blindmatch.reporting.transparency import TransparencyFigures

__all__ = ["appeals_chart", "detections_chart", "fp_ratio_chart", "reports_chart"]

_RC: dict[Any, Any] = {"svg.fonttype": "none", "svg.hashsalt": "blindmatch-transparency", "font.size": 9}


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def detections_chart(figures: TransparencyFigures) -> str:
    """Stacked bars per technology: confirmed, false positives, escalated, undecided."""
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(7.5, 3.2))
        labels = [t.label for t in figures.technologies]
        bottom = [0] * len(labels)
        for name, colour in (
            ("confirmed", "#2f6f3e"),
            ("false_positives", "#c0392b"),
            ("escalated", "#d4a017"),
            ("undecided", "#9aa5b1"),
        ):
            values = [getattr(t, name) for t in figures.technologies]
            ax.bar(labels, values, bottom=bottom, color=colour, label=name.replace("_", " "))
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set_ylabel("detections")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(axis="x", labelrotation=20)
        ax.set_title(f"Detections per technology, {figures.year}")
        ax.legend(fontsize=8, ncols=4, loc="upper right")
        ax.grid(axis="y", alpha=0.3)
        ax.set_ylim(0, max([*bottom, 1]) * 1.25)
        return _svg(fig)


def fp_ratio_chart(figures: TransparencyFigures) -> str:
    """False-positive ratio per technology with its Wilson 95 % interval (technologies with decisions only)."""
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(7.5, 2.8))
        decided = [t for t in figures.technologies if t.fp_ratio is not None]
        if not decided:
            ax.text(0.5, 0.5, "no reviewed decisions this year", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
        else:
            x = list(range(len(decided)))
            ratios = [t.fp_ratio or 0.0 for t in decided]
            low = [max(0.0, r - (t.fp_ci_low or 0.0)) for r, t in zip(ratios, decided, strict=True)]
            high = [
                max(0.0, (t.fp_ci_high or 0.0) - r) for r, t in zip(ratios, decided, strict=True)
            ]  # float noise at 0/1
            ax.errorbar(x, ratios, yerr=[low, high], fmt="o", color="#c0392b", capsize=4)
            ax.set_xticks(x, [t.label for t in decided], rotation=20)
            ax.set_ylim(0, 1)
            ax.set_ylabel("false positives / decided")
            ax.grid(axis="y", alpha=0.3)
        ax.set_title("False-positive ratio (Wilson 95 % interval)")
        return _svg(fig)


def _hbar(title: str, items: tuple[tuple[str, int], ...], empty: str) -> str:
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(7.5, max(1.6, 0.45 * len(items) + 0.8)))
        if not items:
            ax.text(0.5, 0.5, empty, ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
        else:
            ax.barh([k for k, _ in items], [v for _, v in items], color="#34568b")
            ax.invert_yaxis()
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(axis="x", alpha=0.3)
        ax.set_title(title)
        return _svg(fig)


def reports_chart(figures: TransparencyFigures) -> str:
    return _hbar(f"Reports per recipient, {figures.year}", figures.reports_per_recipient, "no reports this year")


def appeals_chart(figures: TransparencyFigures) -> str:
    a = figures.appeals
    items = (("upheld", a.upheld), ("reversed", a.reversed), ("pending", a.pending))
    return _hbar(f"Appeals filed in {figures.year} by outcome", items if a.filed else (), "no appeals this year")
