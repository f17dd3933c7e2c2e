"""Plain functions the CLI wires up: ``blindmatch report transparency --year`` and ``blindmatch report export``.

Kept out of ``cli.py`` so they are tested without typer and reused by the console; each one takes already-loaded
inputs, writes its files atomically (a half-written report is never left under the final name) and returns paths.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import jinja2

from blindmatch.reporting.charts import appeals_chart, detections_chart, fp_ratio_chart, reports_chart
from blindmatch.reporting.errors import TransparencyInputError
from blindmatch.reporting.model import CaseReport, ReportPolicy
from blindmatch.reporting.recipients import get_recipient
from blindmatch.reporting.transparency import (
    TransparencyFigures,
    TransparencyRecords,
    compute_figures,
    figures_to_csv,
)

__all__ = ["TransparencyOutput", "export_case", "render_transparency_html", "write_transparency_report"]


@dataclass(frozen=True)
class TransparencyOutput:
    html: Path
    csv: Path
    figures: TransparencyFigures


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def render_transparency_html(figures: TransparencyFigures) -> str:
    """One self-contained HTML page (inline CSS and SVG, no scripts, no external assets)."""
    source = resources.files("blindmatch.reporting").joinpath("templates/transparency.html").read_text("utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    charts = {
        "detections": detections_chart(figures),
        "fp_ratio": fp_ratio_chart(figures),
        "reports": reports_chart(figures),
        "appeals": appeals_chart(figures),
    }
    return env.from_string(source).render(
        f=figures, rows=(*figures.technologies, figures.total), charts=charts, pct=_pct
    )


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_transparency_report(
    year: int, records: TransparencyRecords | TransparencyFigures, out_dir: Path
) -> TransparencyOutput:
    """Write ``transparency-<year>.html`` and ``transparency-<year>.csv`` into ``out_dir``.

    ``records`` are the year's plain records (counted here) or figures already computed (e.g. by
    :func:`blindmatch.reporting.from_moderation.figures_from_year_stats`).
    """
    if records.year != year:
        raise TransparencyInputError(f"records are for {records.year}, the report asked for {year}")
    figures = records if isinstance(records, TransparencyFigures) else compute_figures(records)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, csv_path = out_dir / f"transparency-{year}.html", out_dir / f"transparency-{year}.csv"
    # A transparency report is public: world-readable. A case export is not: owner only.
    _write_atomic(html_path, render_transparency_html(figures).encode("utf-8"), 0o644)
    _write_atomic(csv_path, figures_to_csv(figures).encode("utf-8"), 0o644)
    return TransparencyOutput(html_path, csv_path, figures)


def export_case(case: CaseReport, recipient: str, out_dir: Path, policy: ReportPolicy | None = None) -> Path:
    """Write the document ``recipient`` takes for ``case`` to ``out_dir`` (nothing is sent anywhere)."""
    adapter = get_recipient(recipient, policy)
    data = adapter.export(case)
    safe_id = re.sub(r"[^A-Za-z0-9._-]", "_", case.case_id).lstrip(".") or "case"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{safe_id}.{adapter.name}.{adapter.file_extension}"
    _write_atomic(path, data, 0o600)
    return path
