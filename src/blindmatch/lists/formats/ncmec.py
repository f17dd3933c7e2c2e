"""Entries in the shape of NCMEC's hash-sharing API (``https://hashsharing.ncmec.org/hashsharing/v2``).

What is public about that API (python-threatexchange's NCMEC client and its test fixtures) shows an XML
``queryResult`` with ``images`` and ``videos`` sections. Each ``image``/``video`` has an ``id``, a ``timestamp``, a
contributing ``member`` (``id`` attribute, name as text), an optional ``classification`` (e.g. ``A1``, ``B2``) and
``fingerprints`` holding ``md5``, ``sha1``, ``pdq``, ``pdna`` (PhotoDNA) and others (some only as links).
``deletedImage``/``deletedVideo`` withdraw an id. ``paging/next`` carries the next page's path.

Assumptions (the NCMEC documentation itself is not public): fingerprint element names are lower-case as in the
fixtures; ``pdq`` is 64 hex digits; a video ``md5`` is the file MD5 (blindmatch ``video_md5``). One NCMEC entry
becomes one blindmatch entry per supported fingerprint, with id ``ncmec/<image|video>/<id>/<signal_type>``; an
update that drops a fingerprint, and a deletion, tombstone the corresponding ids. PhotoDNA and other unsupported
fingerprints are not stored: their names are listed in ``metadata["unsupported_fingerprints"]``; an entry with
only unsupported fingerprints is reported in ``ImportReport.ignored``.

Parsing uses expat directly (for line numbers) with DTDs and entity declarations refused, so a hostile file
cannot expand entities or reach external resources.
"""

from __future__ import annotations

import xml.parsers.expat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from blindmatch.hashing.signals import SignalType
from blindmatch.lists.errors import ImportFormatError, InvalidEntryError
from blindmatch.lists.formats.common import (
    Deletion,
    ImportRecord,
    ImportReport,
    OnError,
    RowError,
    bounded_chunks,
    count,
    row_failed,
)
from blindmatch.lists.model import ListEntry, make_entry

__all__ = [
    "NCMEC_NAMESPACE",
    "NCMEC_SCHEME",
    "NcmecPage",
    "NcmecXmlParser",
    "ncmec_entry_id",
    "read_ncmec_xml",
    "write_ncmec_xml",
]

NCMEC_NAMESPACE = "https://hashsharing.ncmec.org/hashsharing/v2"
NCMEC_SCHEME = "NCMEC"
_RECORD_TAGS = {"image": "image", "video": "video", "deletedImage": "image", "deletedVideo": "video"}
#: (media kind, fingerprint element) -> signal type
_FINGERPRINTS: dict[tuple[str, str], SignalType] = {
    ("image", "md5"): SignalType.MD5,
    ("image", "sha1"): SignalType.SHA1,
    ("image", "pdq"): SignalType.PDQ,
    ("video", "md5"): SignalType.VIDEO_MD5,
    ("video", "sha1"): SignalType.SHA1,
}


def ncmec_entry_id(kind: str, ncmec_id: str, signal_type: SignalType) -> str:
    return f"ncmec/{kind}/{ncmec_id}/{signal_type.value}"


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


@dataclass
class NcmecPage:
    """Everything one parse produced besides the records: the next page link and the max timestamps."""

    next_path: str | None = None
    max_timestamps: dict[str, str] = field(default_factory=dict)


class _Refused(Exception):
    pass


class NcmecXmlParser:
    """Incremental parser: :meth:`feed` text chunks, collect ``(line, Element)`` for each entry element."""

    def __init__(self, source: str | None = None) -> None:
        self.source = source
        self.page = NcmecPage()
        self._ready: list[tuple[int, ET.Element]] = []
        self._stack: list[str] = []
        self._builder: ET.TreeBuilder | None = None
        self._record_line = 0
        self._text: list[str] = []
        p = xml.parsers.expat.ParserCreate(namespace_separator="}")
        p.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
        p.StartDoctypeDeclHandler = self._refuse_dtd
        p.EntityDeclHandler = self._refuse_entity
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.CharacterDataHandler = self._data
        self._parser = p
        self._root_seen = False

    def _refuse_dtd(self, *args: object) -> None:
        raise _Refused("DOCTYPE declarations are not allowed")

    def _refuse_entity(self, *args: object) -> None:
        raise _Refused("entity declarations are not allowed")

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        local = _local(name)
        depth = len(self._stack)
        if depth == 0:
            if local != "queryResult":
                raise _Refused(f"root element must be queryResult, got {local!r}")
            self._root_seen = True
        if self._builder is not None:
            self._builder.start(local, {_local(k): v for k, v in attrs.items()})
        elif depth == 2 and local in _RECORD_TAGS and self._stack[1] in ("images", "videos"):
            self._builder = ET.TreeBuilder()
            self._builder.start(local, {_local(k): v for k, v in attrs.items()})
            self._record_line = self._parser.CurrentLineNumber
        elif depth == 1 and local in ("images", "videos") and "maxTimestamp" in attrs:
            self.page.max_timestamps[local] = attrs["maxTimestamp"]
        self._stack.append(local)
        self._text = []

    def _data(self, data: str) -> None:
        if self._builder is not None:
            self._builder.data(data)
        else:
            self._text.append(data)

    def _end(self, name: str) -> None:
        local = self._stack.pop()
        if self._builder is not None:
            self._builder.end(local)
            if len(self._stack) == 2:
                self._ready.append((self._record_line, self._builder.close()))
                self._builder = None
        elif local == "next" and self._stack[-1:] == ["paging"]:
            self.page.next_path = "".join(self._text).strip() or None

    def feed(self, chunk: str, final: bool = False) -> list[tuple[int, ET.Element]]:
        try:
            self._parser.Parse(chunk, final)
        except _Refused as exc:
            raise ImportFormatError(str(exc), line=self._parser.CurrentLineNumber, source=self.source) from None
        except xml.parsers.expat.ExpatError as exc:
            raise ImportFormatError(
                f"malformed XML: {xml.parsers.expat.ErrorString(exc.code)}", line=exc.lineno, source=self.source
            ) from None
        if final and not self._root_seen:
            raise ImportFormatError("empty document: expected a queryResult element", line=1, source=self.source)
        ready, self._ready = self._ready, []
        return ready


def _child_text(el: ET.Element, name: str) -> str | None:
    child = el.find(name)
    if child is None:
        return None
    return (child.text or "").strip()


def element_to_records(el: ET.Element) -> tuple[list[ImportRecord], str | None]:
    """Turn one entry element into records; the second value is a note if nothing matchable was in it."""
    kind = _RECORD_TAGS[el.tag]
    ncmec_id = _child_text(el, "id")
    if not ncmec_id:
        raise InvalidEntryError(f"<{el.tag}> without an <id>")
    types_for_kind = [st for (k, _), st in _FINGERPRINTS.items() if k == kind]
    if el.tag.startswith("deleted"):
        return [Deletion(ncmec_entry_id(kind, ncmec_id, st)) for st in types_for_kind], None
    member = el.find("member")
    member_name = (member.text or "").strip() if member is not None else ""
    classification = el.find("classification")
    label = classification.text or "" if classification is not None else ""
    meta: dict[str, Any] = {"ncmec_id": ncmec_id, "ncmec_kind": kind}
    if member is not None and member.get("id"):
        meta["ncmec_member_id"] = member.get("id")
    ts = _child_text(el, "timestamp")
    if ts:
        meta["ncmec_timestamp"] = ts
    records: list[ImportRecord] = []
    present: set[SignalType] = set()
    fps = el.find("fingerprints")
    children = list(fps) if fps is not None else []
    unsupported = sorted({fp.tag for fp in children if (kind, fp.tag) not in _FINGERPRINTS})
    if unsupported:
        meta["unsupported_fingerprints"] = unsupported
    for fp in children:
        st = _FINGERPRINTS.get((kind, fp.tag))
        if st is None:
            continue
        if st in present:
            raise InvalidEntryError(f"entry {ncmec_id!r} has two {fp.tag} fingerprints")
        present.add(st)
        records.append(
            make_entry(
                entry_id=ncmec_entry_id(kind, ncmec_id, st),
                signal_type=st,
                value=(fp.text or "").strip(),
                source_org=member_name,
                classification_scheme=NCMEC_SCHEME if classification is not None else "",
                classification_label=label,
                metadata=meta,
            )
        )
    records.extend(Deletion(ncmec_entry_id(kind, ncmec_id, st)) for st in types_for_kind if st not in present)
    note = None
    if not present:
        note = f"{kind} {ncmec_id!r} has no supported fingerprint (had: {', '.join(unsupported) or 'none'})"
    return records, note


def read_ncmec_xml(
    stream: Iterable[str],
    *,
    on_error: OnError = OnError.ABORT,
    report: ImportReport | None = None,
    source: str | None = None,
    page: NcmecPage | None = None,
) -> Iterator[ImportRecord]:
    """Stream records from an NCMEC ``queryResult`` document (one API page or a saved export)."""
    rep = report if report is not None else ImportReport()
    parser = NcmecXmlParser(source)
    if page is not None:
        parser.page = page
    try:
        for chunk in bounded_chunks(stream):
            yield from _records(parser.feed(chunk), rep, on_error, source)
        yield from _records(parser.feed("", final=True), rep, on_error, source)
    except UnicodeDecodeError as exc:
        raise ImportFormatError(f"file is not valid UTF-8: {exc.reason}", source=source) from None


def _records(
    ready: list[tuple[int, ET.Element]], rep: ImportReport, on_error: OnError, source: str | None
) -> Iterator[ImportRecord]:
    for line, el in ready:
        rep.rows += 1
        try:
            records, note = element_to_records(el)
        except InvalidEntryError as exc:
            row_failed(rep, on_error, line=line, reason=str(exc), raw=ET.tostring(el, "unicode"), source=source)
            continue
        if note:
            rep.ignored.append(RowError(line, note))
        for r in records:
            yield count(rep, r)


def write_ncmec_xml(entries: Iterable[ListEntry], stream: IO[str]) -> int:
    """Write entries as an NCMEC-style ``queryResult``, grouping fingerprints of the same NCMEC entry.

    Entries imported from NCMEC keep their NCMEC id; any other entry is written as its own image/video with the
    blindmatch entry id as ``<id>`` (so a re-import gives it an ``ncmec/...`` id). ``sha256`` entries cannot be
    expressed in this format and are skipped (not counted in the return value).
    """
    groups: dict[tuple[str, str], list[ListEntry]] = {}
    for e in entries:
        kind = "video" if e.signal_type is SignalType.VIDEO_MD5 else "image"
        if (kind, _fp_name(e.signal_type)) not in _FINGERPRINTS:
            continue
        nid = e.metadata.get("ncmec_id")
        mkind = e.metadata.get("ncmec_kind")
        known = isinstance(nid, str) and mkind in ("image", "video")
        key = (str(mkind), str(nid)) if known else (kind, e.entry_id)
        groups.setdefault(key, []).append(e)
    stream.write('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n')
    stream.write(f'<queryResult xmlns="{NCMEC_NAMESPACE}">\n')
    n = 0
    for section, kind in (("images", "image"), ("videos", "video")):
        items = [(k, v) for k, v in groups.items() if k[0] == kind]
        if not items:
            continue
        stream.write(f'  <{section} count="{len(items)}">\n')
        for (_, nid), group in items:
            first = group[0]
            stream.write(f"    <{kind}>\n")
            member_id = first.metadata.get("ncmec_member_id")
            attr = f" id={quoteattr(str(member_id))}" if member_id else ""
            stream.write(f"      <member{attr}>{escape(first.source_org)}</member>\n")
            ts = first.metadata.get("ncmec_timestamp")
            if isinstance(ts, str):
                stream.write(f"      <timestamp>{escape(ts)}</timestamp>\n")
            stream.write(f"      <id>{escape(nid)}</id>\n")
            if first.classification_scheme == NCMEC_SCHEME:
                stream.write(f"      <classification>{escape(first.classification_label)}</classification>\n")
            stream.write("      <fingerprints>\n")
            for e in group:
                name = _fp_name(e.signal_type)
                stream.write(f"        <{name}>{e.value}</{name}>\n")
                n += 1
            stream.write("      </fingerprints>\n")
            stream.write(f"    </{kind}>\n")
        stream.write(f"  </{section}>\n")
    stream.write("</queryResult>\n")
    return n


def _fp_name(st: SignalType) -> str:
    return "md5" if st is SignalType.VIDEO_MD5 else st.value
