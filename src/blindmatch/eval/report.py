"""Writing a report: ``<name>.json`` (every number) and ``<name>.html`` (one self-contained page with plots).

Why both: the JSON is what other tools, CI and critics diff and re-analyse; the HTML is what a hotline analyst or
regulator opens. The page embeds its PNGs as base64 ``data:`` URIs and inlines its CSS, so it can be mailed or
archived as a single file and still shows everything. Both carry the provenance a rerun needs: package versions,
git commit, Python, platform, and whatever data description, parameters and seeds the caller adds.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import jinja2

from blindmatch.eval.errors import EvalError

__all__ = ["Figure", "Table", "git_commit", "package_versions", "provenance", "to_jsonable", "write_report"]

_PACKAGES = ("blindmatch", "numpy", "pillow", "matplotlib", "jinja2", "pdqhash", "imagehash", "scipy")


@dataclass(frozen=True)
class Figure:
    """A rendered plot: title, a caption saying what it shows and how to read it, and PNG bytes."""

    title: str
    caption: str
    png: bytes = field(repr=False)

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass(frozen=True)
class Table:
    """A table for the HTML page (the same numbers are in the JSON data)."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...]
    note: str = ""


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that influence results (None = not installed)."""
    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit() -> dict[str, object]:
    """The commit of the checkout this package runs from, and whether tracked files differ from it."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        return {"commit": sha, "dirty": bool(dirty)}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def provenance() -> dict[str, object]:
    """Everything about the run environment a reader needs to reproduce the numbers."""
    return {
        "generated_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git": git_commit(),
        "packages": package_versions(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, numpy scalars/arrays, paths, tuples and non-finite floats → plain, strict JSON values."""
    import dataclasses

    import numpy as np

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, bytes):
        return base64.b64encode(obj).decode("ascii")
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def _fmt(v: object) -> str:
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if v == 0:
            return "0"
        if abs(v) < 1e-3 or abs(v) >= 1e6:
            return f"{v:.3g}"
        return f"{v:.4g}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return "—" if v is None else str(v)


def _template() -> jinja2.Template:
    source = resources.files("blindmatch.eval").joinpath("templates/report.html").read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["fmt"] = _fmt
    return env.from_string(source)


def write_report(
    name: str,
    data: Mapping[str, Any],
    figures: Sequence[Figure],
    out_dir: Path,
    *,
    title: str | None = None,
    headlines: Sequence[str] = (),
    tables: Sequence[Table] = (),
    notes: Sequence[str] = (),
) -> tuple[Path, Path]:
    """Write ``out_dir/<name>.json`` and ``out_dir/<name>.html``; returns both paths.

    ``data`` should hold every number shown; provenance is added under ``"provenance"`` unless already present.
    """
    if not name or any(c in name for c in "/\\") or name.startswith("."):
        raise EvalError(f"report name must be a plain file stem, got {name!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {"report": name, "title": title or name, "headlines": list(headlines)}
    payload.update(to_jsonable(dict(data)))
    payload.setdefault("provenance", to_jsonable(provenance()))
    payload["figures"] = [{"title": f.title, "caption": f.caption} for f in figures]
    json_path = out_dir / f"{name}.json"
    json_path.write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    html = _template().render(
        title=title or name,
        headlines=list(headlines),
        notes=list(notes),
        tables=list(tables),
        figures=list(figures),
        provenance_json=json.dumps(payload["provenance"], indent=2),
        parameters_json=json.dumps(payload.get("parameters", {}), indent=2),
        json_name=json_path.name,
    )
    html_path = out_dir / f"{name}.html"
    html_path.write_text(html, encoding="utf-8")
    return json_path, html_path
