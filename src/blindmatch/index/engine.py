"""Which implementation runs the PDQ index's query loop: the compiled extension or NumPy.

Why two: the probe loop is memory-latency bound, and NumPy can neither prefetch nor avoid materialising every
intermediate array, so the C extension ``_mihprobe`` (built by ``pip install``) is several times cheaper per query
(``docs/benchmarks.md``). NumPy stays as the fallback so a checkout without a C compiler, or a platform the
extension was not built for, still matches correctly, only slower; both return identical results (a differential
test checks that).

The choice is explicit: ``PDQIndex(engine=...)``, or the ``BLINDMATCH_INDEX_ENGINE`` environment variable, takes
``auto`` (compiled when importable), ``compiled`` (fail with :class:`EngineUnavailableError` when it is not) or
``numpy``. Whatever ``auto`` resolves to is logged once per process, with the import error when it falls back.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from types import ModuleType

import numpy as np

from blindmatch.index.bits import prefix_probes
from blindmatch.index.errors import EngineUnavailableError, UnknownEngineError

__all__ = [
    "ENGINES",
    "ENGINE_ENV",
    "compiled_available",
    "compiled_import_error",
    "compiled_probe",
    "compiled_scan",
    "resolve_engine",
]

ENGINES = ("auto", "compiled", "numpy")
ENGINE_ENV = "BLINDMATCH_INDEX_ENGINE"

_log = logging.getLogger("blindmatch.index")
_NO_MASKS = np.empty(0, dtype=np.int64)
_logged: set[tuple[str, str]] = set()
_log_lock = threading.Lock()


def _import_extension() -> tuple[ModuleType | None, str]:
    try:
        from blindmatch.index import _mihprobe
    except ImportError as exc:  # not built (plain source checkout, no compiler at install time)
        return None, f"{type(exc).__name__}: {exc}"
    return _mihprobe, ""


_EXT, _IMPORT_ERROR = _import_extension()


def compiled_available() -> bool:
    """Is the compiled probe loop importable in this process?"""
    return _EXT is not None


def compiled_import_error() -> str:
    """Why the extension could not be imported ("" when it was)."""
    return _IMPORT_ERROR


def resolve_engine(requested: str | None = None) -> str:
    """``"compiled"`` or ``"numpy"`` for a requested engine (``None``: the environment variable, else ``auto``)."""
    source = "argument"
    if requested is None:
        requested, source = os.environ.get(ENGINE_ENV, "auto"), ENGINE_ENV
    if requested not in ENGINES:
        raise UnknownEngineError(f"engine ({source}) must be one of {', '.join(ENGINES)}, got {requested!r}")
    if requested == "compiled" and _EXT is None:
        raise EngineUnavailableError(
            f"the compiled PDQ probe loop is not importable ({_IMPORT_ERROR}); reinstall with a C compiler "
            f"(pip install -e .) or use engine='numpy'"
        )
    resolved = "compiled" if requested == "compiled" or (requested == "auto" and _EXT is not None) else "numpy"
    _log_choice(requested, resolved)
    return resolved


def _log_choice(requested: str, resolved: str) -> None:
    with _log_lock:
        if (requested, resolved) in _logged:
            return
        _logged.add((requested, resolved))
    if resolved == "compiled":
        _log.info("PDQ index engine: compiled probe loop (blindmatch.index._mihprobe), requested %r", requested)
    elif requested == "numpy":
        _log.info("PDQ index engine: numpy, as requested")
    else:
        _log.warning(
            "PDQ index engine: numpy fallback, the compiled probe loop is not importable (%s); queries cost "
            "several times more CPU",
            _IMPORT_ERROR,
        )


def _extension() -> ModuleType:
    if _EXT is None:
        raise EngineUnavailableError(f"the compiled PDQ probe loop is not importable ({_IMPORT_ERROR})")
    return _EXT


def _as_results(raw: tuple[bytes, bytes, bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    qi, pos, dist = raw
    return np.frombuffer(qi, dtype=np.int64), np.frombuffer(pos, dtype=np.int64), np.frombuffer(dist, dtype=np.int16)


def compiled_probe(
    qc: np.ndarray,
    t: int,
    cols: np.ndarray,
    alive: np.ndarray | None,
    tables: Sequence[np.ndarray],
    offsets: Sequence[np.ndarray],
    chunks: Sequence[tuple[int, int, int]],
    radii: Sequence[int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probe the main tables for ``(4, nq)`` permuted queries: (query index, position, distance) of every live
    entry within ``t``, each reported once. ``chunks`` holds (start, width, prefix) per chunk; the probe masks are
    the same cached ones the NumPy path uses, so both enumerate exactly the same buckets."""
    masks = tuple(prefix_probes(p, r)[0] if r >= 0 else _NO_MASKS for (_, _, p), r in zip(chunks, radii, strict=True))
    plan = tuple((s, w, p, r) for (s, w, p), r in zip(chunks, radii, strict=True))
    raw = _extension().probe(qc, t, cols, alive, tuple(tables), tuple(offsets), masks, plan)
    return _as_results(raw)


def compiled_scan(
    qc: np.ndarray, t: int, cols: np.ndarray, alive: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Brute-force scan of ``(4, n)`` columns (the delta buffer, or the main arrays when ``t`` is huge)."""
    return _as_results(_extension().scan(qc, t, cols, alive))
