"""Hostile input to the compiled probe loop: wrong dtypes, shapes, layouts and damaged tables raise
``ProbeArgumentError`` (never a crash or an out-of-bounds read); engine selection is explicit and logged."""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np
import pytest

from blindmatch.index import PDQIndex, engine
from blindmatch.index import _mihprobe as ext
from blindmatch.index.bits import permute_to_cols, prefix_probes, radii_for_threshold
from blindmatch.index.errors import (
    EngineUnavailableError,
    MatchIndexError,
    ProbeArgumentError,
    UnknownEngineError,
)

from .helpers import clustered


@pytest.fixture(scope="module")
def good() -> dict[str, Any]:
    """Valid arguments of ``probe`` for a small index (16 chunks of 16-bit prefixes, t = 31)."""
    rng = np.random.default_rng(1)
    hashes = clustered(rng, 500, 5, 30)
    index = PDQIndex(chunks=16, prefix_bits=16, delta_max=1)
    index.add(np.arange(500), hashes)
    radii = radii_for_threshold(31, 16)
    chunks = index._chunks()
    return {
        "queries": permute_to_cols(hashes[:4], index._perm),
        "t": 31,
        "cols": index._cols,
        "alive": index._alive,
        "tables": tuple(index._tables),
        "offsets": tuple(index._offsets),
        "masks": tuple(prefix_probes(p, r)[0] for (_, _, p), r in zip(chunks, radii, strict=True)),
        "plan": tuple((s, w, p, r) for (s, w, p), r in zip(chunks, radii, strict=True)),
    }


def _probe(args: dict[str, Any], **change: Any) -> tuple[bytes, bytes, bytes]:
    a = {**args, **change}
    out: tuple[bytes, bytes, bytes] = ext.probe(
        a["queries"], a["t"], a["cols"], a["alive"], a["tables"], a["offsets"], a["masks"], a["plan"]
    )
    return out


def test_valid_arguments_work(good: dict[str, Any]) -> None:
    qi, pos, dist = _probe(good)
    assert len(qi) == len(pos) == 4 * len(dist) and len(dist) // 2 >= 4  # each query finds at least itself
    assert ProbeArgumentError.__mro__[1] is MatchIndexError and issubclass(ProbeArgumentError, ValueError)


@pytest.mark.parametrize(
    ("name", "bad", "message"),
    [
        ("queries", lambda g: g["queries"].astype(np.int64), "dtype uint64"),
        ("queries", lambda g: g["queries"].astype(np.float64), "dtype uint64"),
        ("queries", lambda g: g["queries"].astype(np.uint32), "dtype uint64"),
        ("queries", lambda g: g["queries"].astype(">u8"), "dtype uint64"),
        ("queries", lambda g: g["queries"][:3], "shape (4, nq)"),
        ("queries", lambda g: g["queries"].ravel(), "2-dimensional"),
        ("queries", lambda g: np.asfortranarray(np.repeat(g["queries"], 2, axis=1)), "C-contiguous"),
        ("queries", lambda g: g["queries"][:, ::2], "C-contiguous"),
        ("queries", lambda g: None, "C-contiguous"),
        ("queries", lambda g: "0" * 64, "C-contiguous"),
        ("queries", lambda g: bytes(32), "dtype uint64"),
        ("cols", lambda g: g["cols"].T.copy(), "shape (4, n)"),
        ("cols", lambda g: g["cols"].view(np.int64), "dtype uint64"),
        ("alive", lambda g: g["alive"][:-1], "(n + 7) // 8"),
        ("alive", lambda g: g["alive"].astype(np.int8), "dtype uint8"),
        ("alive", lambda g: np.ones(len(g["alive"]), dtype=bool), "dtype uint8"),
        ("t", lambda g: 257, "0..256"),
        ("t", lambda g: -1, "0..256"),
        ("t", lambda g: 31.0, "integer"),
        ("t", lambda g: True, "integer"),
        ("t", lambda g: 2**80, "0..256"),
        ("tables", lambda g: list(g["tables"]), "tuples"),
        ("tables", lambda g: g["tables"][:-1], "same length"),
        ("tables", lambda g: (g["tables"][0].astype(np.int32), *g["tables"][1:]), "dtype uint32"),
        ("tables", lambda g: (g["tables"][0][:-1], *g["tables"][1:]), "one entry per position"),
        ("offsets", lambda g: (g["offsets"][0][:-1], *g["offsets"][1:]), "2**16 + 1"),
        ("offsets", lambda g: (g["offsets"][0].astype(np.uint64), *g["offsets"][1:]), "dtype uint32"),
        ("masks", lambda g: (g["masks"][0].astype(np.int32), *g["masks"][1:]), "dtype int64"),
        ("masks", lambda g: (np.array([1 << 16]), *g["masks"][1:]), "16-bit mask"),
        ("masks", lambda g: (np.array([-1]), *g["masks"][1:]), "16-bit mask"),
        ("masks", lambda g: (np.array([0b111]), *g["masks"][1:]), "weight <= 1"),
        ("plan", lambda g: ((0, 16, 16), *g["plan"][1:]), "(start, width, prefix, radius)"),
        ("plan", lambda g: ((0, 16, 16, True), *g["plan"][1:]), "integer"),
        ("plan", lambda g: ((0, "16", 16, 1), *g["plan"][1:]), "integer"),
        ("plan", lambda g: ((250, 16, 16, 1), *g["plan"][1:]), "does not fit"),
        ("plan", lambda g: ((0, 16, 25, 1), *g["plan"][1:]), "prefix must be in"),
        ("plan", lambda g: ((0, 29, 16, 1), *g["plan"][1:]), "width must be in"),
        ("plan", lambda g: ((0, 24, 16, 1), *g["plan"][1:]), "4 suffix bits"),
        ("plan", lambda g: ((0, 12, 10, 1), *g["plan"][1:]), "2**10 + 1"),
        ("plan", lambda g: ((0, 16, 16, -2), *g["plan"][1:]), "radius must be in"),
        ("plan", lambda g: (), "same length"),
    ],
)
def test_bad_arguments_raise_probe_argument_error(good: dict[str, Any], name: str, bad: Any, message: str) -> None:
    with pytest.raises(ProbeArgumentError, match=re.escape(message)):
        _probe(good, **{name: bad(good)})


def test_no_queries_empty_index_and_pending_only(good: dict[str, Any]) -> None:
    assert _probe(good, queries=np.zeros((4, 0), np.uint64)) == (b"", b"", b"")
    index = PDQIndex(chunks=16, prefix_bits=16, engine="compiled")
    assert [len(r) for r in index.search_batch(np.zeros((2, 32), np.uint8), 64)] == [0, 0]
    index.add([1], [bytes(32)])  # pending in the delta buffer, main tables empty
    assert index.search_batch(np.zeros((2, 32), np.uint8), 5)[1].ids.tolist() == [1]


def test_damaged_tables_raise_instead_of_reading_out_of_bounds(good: dict[str, Any]) -> None:
    offsets = list(good["offsets"])
    off = offsets[0].copy()
    off[:] = 0
    off[1:] = 10**9  # every bucket ends far beyond the table
    offsets[0] = off
    zero = np.zeros((4, 1), np.uint64)  # probes bucket 0 and its neighbours in every chunk
    with pytest.raises(ProbeArgumentError, match="outside the 500 entries"):
        _probe(good, offsets=tuple(offsets), queries=zero)
    off2 = np.zeros_like(good["offsets"][0])
    off2[1], off2[2:] = 5, 2  # bucket 1 would run backwards, [5, 2)
    with pytest.raises(ProbeArgumentError, match=re.escape("bucket 1 spans [5, 2)")):
        _probe(good, offsets=(off2, *good["offsets"][1:]), queries=zero)
    tables = list(good["tables"])
    tab = tables[3].copy()
    tab[:] = (tab & np.uint32(0xF0000000)) | np.uint32(499_999)  # positions beyond the 500 entries
    tables[3] = tab
    with pytest.raises(ProbeArgumentError, match="points at position 499999"):
        _probe(good, tables=tuple(tables))


def test_scan_validates_too(good: dict[str, Any]) -> None:
    qi, pos, dist = ext.scan(good["queries"], 31, good["cols"], None)
    assert len(qi) == len(pos) == 4 * len(dist) and len(dist) // 2 >= 4
    with pytest.raises(ProbeArgumentError, match="dtype uint64"):
        ext.scan(good["queries"].astype(np.float32), 31, good["cols"], None)
    with pytest.raises(ProbeArgumentError, match=r"\(n \+ 7\) // 8"):
        ext.scan(good["queries"], 31, good["cols"], np.zeros(3, np.uint8))
    with pytest.raises(TypeError):
        ext.scan(good["queries"], 31)  # wrong arity is Python's own TypeError


def test_search_batch_input_errors_are_specific() -> None:
    index = PDQIndex()
    index.add([1, 2], [bytes(32), bytes(range(32))])
    from blindmatch.index import MalformedHashError

    for bad in (np.zeros((2, 32), np.int64), np.zeros((2, 31), np.uint8), "00" * 32, [b"short"]):
        with pytest.raises(MalformedHashError):
            index.search_batch(bad, 31, engine="compiled")


# ---------------------------------------------------------------------------------------------- engine selection


def test_engine_choice_is_explicit(monkeypatch: pytest.MonkeyPatch) -> None:
    assert PDQIndex(engine="compiled").engine == "compiled"
    assert PDQIndex(engine="numpy").engine == "numpy"
    assert PDQIndex(engine="auto").engine == "compiled"
    monkeypatch.setenv(engine.ENGINE_ENV, "numpy")
    assert PDQIndex().engine == "numpy"
    monkeypatch.setenv(engine.ENGINE_ENV, "fast")
    with pytest.raises(UnknownEngineError, match="BLINDMATCH_INDEX_ENGINE"):
        PDQIndex()
    with pytest.raises(UnknownEngineError, match="'C'"):
        PDQIndex(engine="C")
    idx = PDQIndex(engine="numpy")
    with pytest.raises(UnknownEngineError):
        idx.search_batch(np.zeros((1, 32), np.uint8), engine="gpu")


def test_fallback_when_the_extension_is_missing(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    monkeypatch.setattr(engine, "_EXT", None)
    monkeypatch.setattr(engine, "_IMPORT_ERROR", "ImportError: no module named _mihprobe (test)")
    monkeypatch.setattr(engine, "_logged", set())
    monkeypatch.delenv(engine.ENGINE_ENV, raising=False)
    with caplog.at_level(logging.INFO, logger="blindmatch.index"):
        index = PDQIndex()
    assert index.engine == "numpy"
    assert any(
        r.levelno == logging.WARNING and "numpy fallback" in r.getMessage() and "(test)" in r.getMessage()
        for r in caplog.records
    )
    index.add([7], [bytes(32)])
    assert index.search(bytes(32), 0).ids.tolist() == [7]  # the fallback still matches
    with pytest.raises(EngineUnavailableError, match="not importable"):
        PDQIndex(engine="compiled")
    with pytest.raises(EngineUnavailableError):
        index.search_batch(np.zeros((1, 32), np.uint8), engine="compiled")


def test_compiled_choice_is_logged_once(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    monkeypatch.setattr(engine, "_logged", set())
    with caplog.at_level(logging.INFO, logger="blindmatch.index"):
        PDQIndex(engine="auto")
        PDQIndex(engine="auto")
    chosen = [r for r in caplog.records if "PDQ index engine: compiled" in r.getMessage()]
    assert len(chosen) == 1 and chosen[0].levelno == logging.INFO
