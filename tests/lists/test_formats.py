from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blindmatch.hashing.signals import SignalType
from blindmatch.lists import ImportFormatError, ListEntry, make_entry
from blindmatch.lists.formats import FORMATS, Deletion, ImportReport, OnError, UnknownFormatError, get_format

PDQ1 = "1" * 64
PDQ2 = "ab" * 32
MD5 = "0123456789abcdef" * 2
SHA1 = "a" * 40


def read(fmt: str, text: str, **kw: object) -> list[object]:
    return list(get_format(fmt).read(io.StringIO(text), **kw))  # type: ignore[arg-type]


def sample_entries() -> list[ListEntry]:
    return [
        make_entry(
            entry_id="e1",
            signal_type="pdq",
            value=PDQ1,
            source_org="Hotline One",
            classification_scheme="NCMEC",
            classification_label="A1",
            licence="CC-BY-4.0",
            metadata={"note": 'x, "quoted"', "n": 3},
        ),
        make_entry(signal_type="md5", value=MD5, classification_scheme="IWF", classification_label="B"),
        make_entry(entry_id="e3", signal_type="sha1", value=SHA1, classification_label="CSAM"),
    ]


# ----------------------------------------------------------------- CSV


def test_csv_reads_entries_and_keeps_unknown_columns() -> None:
    text = (
        "signal_type,value,entry_id,classification_scheme,classification_label,hotline_ref\n"
        f"pdq,{PDQ1.upper()},id-1,NCMEC,A1,REF-9\n"
        f"md5,{MD5},,IWF,C,\n"
    )
    records = read("csv", text)
    assert len(records) == 2
    a, b = records
    assert isinstance(a, ListEntry) and isinstance(b, ListEntry)
    assert a.value == PDQ1 and a.entry_id == "id-1" and a.classification_label == "A1"
    assert a.metadata == {"hotline_ref": "REF-9"}
    assert b.entry_id == f"md5:{MD5}" and b.classification_label == "C" and b.metadata == {}


def test_csv_requires_header() -> None:
    with pytest.raises(ImportFormatError, match=r"line 1: .*missing required column"):
        read("csv", f"pdq,{PDQ1}\n")
    with pytest.raises(ImportFormatError, match="empty file"):
        read("csv", "")
    with pytest.raises(ImportFormatError, match="duplicate"):
        read("csv", "signal_type,value,value\n")


def test_csv_abort_names_the_line_and_reason() -> None:
    text = f"signal_type,value\npdq,{PDQ1}\npdq,{PDQ1[:-1]}\npdq,{PDQ2}\n"
    with pytest.raises(ImportFormatError) as info:
        read("csv", text, source="x.csv")
    assert info.value.line == 3
    assert "64 hex digits" in str(info.value) and "x.csv:line 3" in str(info.value)


def test_csv_skip_mode_reports_every_bad_row() -> None:
    text = (
        "signal_type,value,metadata\n"
        f"pdq,{PDQ1},\n"
        "pdq,zz,\n"
        f"md5,{MD5},not json\n"
        f"md5,{MD5},[1]\n"
        f"md5,{MD5}\n"
        f"sha1,{SHA1},\n"
    )
    report = ImportReport()
    records = read("csv", text, on_error=OnError.SKIP, report=report)
    assert [r.value for r in records if isinstance(r, ListEntry)] == [PDQ1, SHA1]
    assert [e.line for e in report.errors] == [3, 4, 5, 6]
    reasons = [e.reason for e in report.errors]
    assert "64 hex digits" in reasons[0]
    assert "not valid JSON" in reasons[1]
    assert "JSON object" in reasons[2]
    assert "expected 3 fields" in reasons[3]
    assert report.rows == 6 and report.entries == 2


def test_csv_multiline_quoted_field_counts_physical_lines() -> None:
    text = f'signal_type,value,source_org\npdq,{PDQ1},"two\nlines"\npdq,bad,x\n'
    with pytest.raises(ImportFormatError) as info:
        read("csv", text)
    assert info.value.line == 4


def test_csv_nul_byte_is_a_clear_error() -> None:
    with pytest.raises(ImportFormatError, match=r"line 2: .*64 hex digits"):
        read("csv", f"signal_type,value\npdq,{PDQ1}\x00\n")


def test_csv_unterminated_quote_is_a_clear_error() -> None:
    with pytest.raises(ImportFormatError, match="malformed CSV"):
        read("csv", f'signal_type,value\npdq,"{PDQ1}\n')


def test_csv_delete_rows() -> None:
    records = read("csv", "op,entry_id,signal_type,value\ndelete,e1,,\n")
    assert records == [Deletion("e1")]


def test_csv_extra_column_colliding_with_metadata_key_is_rejected() -> None:
    text = f'signal_type,value,metadata,ref\npdq,{PDQ1},"{{""ref"": 1}}",2\n'
    with pytest.raises(ImportFormatError, match="collides"):
        read("csv", text)


# ----------------------------------------------------------------- JSONL


def test_jsonl_reads_and_rejects_with_line_numbers() -> None:
    lines = [
        json.dumps({"signal_type": "pdq", "value": PDQ1, "classification_label": "A1", "metadata": {"k": 1}}),
        "",
        "{not json",
        json.dumps([1, 2]),
        json.dumps({"signal_type": "pdq"}),
        json.dumps({"op": "delete", "entry_id": "gone"}),
        json.dumps({"signal_type": "md5", "value": MD5, "classification_label": 7}),
    ]
    report = ImportReport()
    records = read("jsonl", "\n".join(lines) + "\n", on_error=OnError.SKIP, report=report)
    assert len(records) == 2
    assert isinstance(records[0], ListEntry) and records[0].metadata == {"k": 1}
    assert records[1] == Deletion("gone")
    assert [e.line for e in report.errors] == [3, 4, 5, 7]
    assert "invalid JSON" in report.errors[0].reason
    assert "missing required field 'value'" in report.errors[2].reason
    with pytest.raises(ImportFormatError, match="line 3"):
        read("jsonl", "\n".join(lines))


def test_jsonl_deeply_nested_is_rejected_not_crashing() -> None:
    with pytest.raises(ImportFormatError, match="line 1"):
        read("jsonl", "[" * 100_000 + "\n")


# ----------------------------------------------------------------- ThreatExchange


def test_te_text_with_and_without_collab_and_tags() -> None:
    text = (
        "# exported by threatexchange dataset -P\n"
        f"pdq {PDQ1} media_priority_s\n"
        f"'Sample Data' pdq {PDQ2}\n"
        f"video_md5 {MD5}\n"
        f"pdq_signal {PDQ2} a b\n"
    )
    records = read("te-text", text)
    assert len(records) == 4
    a, b, c, d = records
    assert isinstance(a, ListEntry) and a.metadata == {"tags": ["media_priority_s"]}
    assert isinstance(b, ListEntry) and b.source_org == "Sample Data" and b.value == PDQ2
    assert isinstance(c, ListEntry) and c.signal_type is SignalType.VIDEO_MD5
    assert isinstance(d, ListEntry) and d.signal_type is SignalType.PDQ and d.metadata == {"tags": ["a", "b"]}


def test_te_text_bad_rows() -> None:
    report = ImportReport()
    read("te-text", f"pdq\nraw_text hello\npdq {PDQ1}\nurl 'unterminated\n", on_error=OnError.SKIP, report=report)
    assert [e.line for e in report.errors] == [1, 2, 4]
    assert "unknown signal type" in report.errors[1].reason


def test_te_csv() -> None:
    text = f"collab,signal_type,signal_str,category,tags\nSample,pdq,{PDQ1},TRUE_POSITIVE,a b\n"
    [e] = read("te-csv", text)
    assert isinstance(e, ListEntry)
    assert (e.source_org, e.classification_scheme, e.classification_label) == (
        "Sample",
        "threatexchange",
        "TRUE_POSITIVE",
    )
    assert e.metadata == {"tags": ["a", "b"]}
    with pytest.raises(ImportFormatError, match="header must be"):
        read("te-csv", f"signal_type,signal_str\npdq,{PDQ1}\n")


# ----------------------------------------------------------------- NCMEC

NCMEC_PAGE = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<queryResult xmlns="https://hashsharing.ncmec.org/hashsharing/v2">
  <images count="3" maxTimestamp="2026-01-02T00:00:00Z">
    <image>
      <member id="42">Member A</member>
      <timestamp>2026-01-01T00:00:00Z</timestamp>
      <id>img1</id>
      <classification>B2</classification>
      <fingerprints>
        <md5>{MD5}</md5>
        <pdq>{PDQ1}</pdq>
        <pdna>not-our-business</pdna>
      </fingerprints>
    </image>
    <image>
      <member id="43">Member B</member>
      <id>img2</id>
      <fingerprints><pdna>only-photodna</pdna></fingerprints>
    </image>
    <deletedImage><member id="42">Member A</member><id>img9</id></deletedImage>
  </images>
  <videos count="1">
    <video><member id="1">V</member><id>vid1</id><classification>A1</classification>
      <fingerprints><md5>{MD5}</md5></fingerprints></video>
  </videos>
  <paging><next>/v2/entries?from=a&amp;start=2</next></paging>
</queryResult>
"""


def test_ncmec_xml_entries_deletions_and_ignored() -> None:
    report = ImportReport()
    records = read("ncmec-xml", NCMEC_PAGE, report=report)
    entries = {r.entry_id: r for r in records if isinstance(r, ListEntry)}
    deletions = {r.entry_id for r in records if isinstance(r, Deletion)}
    assert set(entries) == {"ncmec/image/img1/md5", "ncmec/image/img1/pdq", "ncmec/video/vid1/video_md5"}
    pdq = entries["ncmec/image/img1/pdq"]
    assert pdq.value == PDQ1 and pdq.classification_scheme == "NCMEC" and pdq.classification_label == "B2"
    assert pdq.source_org == "Member A" and pdq.metadata["ncmec_member_id"] == "42"
    assert pdq.metadata["unsupported_fingerprints"] == ["pdna"]
    assert "ncmec/image/img1/sha1" in deletions  # update without sha1 drops a stale sha1
    assert {"ncmec/image/img9/md5", "ncmec/image/img9/pdq", "ncmec/image/img9/sha1"} <= deletions
    assert entries["ncmec/video/vid1/video_md5"].signal_type is SignalType.VIDEO_MD5
    assert len(report.ignored) == 1 and "img2" in report.ignored[0].reason and report.ignored[0].line == 15


def test_ncmec_bad_fingerprint_has_line_number() -> None:
    bad = NCMEC_PAGE.replace(f"<pdq>{PDQ1}</pdq>", "<pdq>123</pdq>")
    with pytest.raises(ImportFormatError) as info:
        read("ncmec-xml", bad)
    assert info.value.line == 4 and "64 hex digits" in str(info.value)
    report = ImportReport()
    records = read("ncmec-xml", bad, on_error=OnError.SKIP, report=report)
    assert len(report.errors) == 1
    assert not any(isinstance(r, ListEntry) and r.metadata.get("ncmec_id") == "img1" for r in records)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("<queryResult><images><image>", "malformed XML"),
        ("", "no element found"),
        ("<other/>", "root element"),
        ('<?xml version="1.0"?><!DOCTYPE q [<!ENTITY a "aaaa">]><queryResult/>', "DOCTYPE"),
    ],
)
def test_ncmec_malformed_documents(doc: str, message: str) -> None:
    with pytest.raises(ImportFormatError, match=message):
        read("ncmec-xml", doc)


def test_ncmec_streams_in_small_chunks() -> None:
    chunks = [NCMEC_PAGE[i : i + 7] for i in range(0, len(NCMEC_PAGE), 7)]
    records = list(get_format("ncmec-xml").read(chunks))
    assert records == read("ncmec-xml", NCMEC_PAGE)


# ----------------------------------------------------------------- round trips (pure, no store)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_round_trip_full_fidelity(fmt: str) -> None:
    entries = sample_entries()
    buf = io.StringIO()
    assert get_format(fmt).write(entries, buf) == 3
    back = read(fmt, buf.getvalue())
    assert [e.content_key() for e in back if isinstance(e, ListEntry)] == [e.content_key() for e in entries]


def test_csv_round_trip_of_carriage_returns_and_newlines() -> None:
    """Regression (found by the property test): a lone CR was written unquoted and split the row."""
    e = make_entry(signal_type="pdq", value=PDQ1, licence="\r", source_org="a\nb", classification_label="x\r\ny")
    buf = io.StringIO(newline="")
    get_format("csv").write([e], buf)
    [back] = read("csv", buf.getvalue())
    assert isinstance(back, ListEntry) and back.content_key() == e.content_key()


def test_te_text_folds_whitespace_in_collab_names() -> None:
    e = make_entry(signal_type="pdq", value=PDQ1, source_org="Multi\nLine  Collab")
    buf = io.StringIO()
    get_format("te-text").write([e], buf)
    assert buf.getvalue().count("\n") == 1
    [back] = read("te-text", buf.getvalue())
    assert isinstance(back, ListEntry) and back.source_org == "Multi Line Collab"


def test_round_trip_threatexchange_keeps_what_it_can_express() -> None:
    entries = [
        make_entry(signal_type="pdq", value=PDQ1, source_org="Collab X", metadata={"tags": ["t1", "t2"]}),
        make_entry(
            signal_type="video_md5", value=MD5, classification_scheme="threatexchange", classification_label="POSITIVE"
        ),
    ]
    for fmt in ("te-text", "te-csv"):
        buf = io.StringIO()
        get_format(fmt).write(entries, buf)
        back = [e for e in read(fmt, buf.getvalue()) if isinstance(e, ListEntry)]
        assert [(e.signal_type, e.value, e.source_org, e.metadata.get("tags")) for e in back] == [
            (e.signal_type, e.value, e.source_org, e.metadata.get("tags")) for e in entries
        ]
    buf = io.StringIO()
    get_format("te-csv").write(entries, buf)
    assert [e.classification_label for e in read("te-csv", buf.getvalue())] == ["", "POSITIVE"]  # type: ignore[attr-defined]


def test_round_trip_ncmec() -> None:
    original = [r for r in read("ncmec-xml", NCMEC_PAGE) if isinstance(r, ListEntry)]
    buf = io.StringIO()
    assert get_format("ncmec-xml").write(original, buf) == 3
    again = [r for r in read("ncmec-xml", buf.getvalue()) if isinstance(r, ListEntry)]
    key = lambda e: (e.entry_id, e.signal_type, e.value, e.source_org, e.classification_label)  # noqa: E731
    assert sorted(map(key, again)) == sorted(map(key, original))


def test_unknown_format() -> None:
    with pytest.raises(UnknownFormatError, match="known: csv"):
        get_format("xlsx")
    assert set(FORMATS) == {"csv", "jsonl", "te-text", "te-csv", "ncmec-xml"}


# ----------------------------------------------------------------- limits and properties


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "te-text"])
def test_overlong_line_is_refused_without_reading_it_whole(fmt: str) -> None:
    from blindmatch.lists.formats.common import MAX_LINE_CHARS

    header = {"csv": "signal_type,value\n", "jsonl": "", "te-text": ""}[fmt]
    text = header + "x" * (MAX_LINE_CHARS + 10) + "\n"
    with pytest.raises(ImportFormatError, match="longer than"):
        read(fmt, text)


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
_json_scalar = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | _text


@settings(max_examples=60, deadline=None)
@given(
    source_org=_text,
    scheme=_text,
    label=_text,
    licence=_text,
    entry_id=st.text(st.characters(min_codepoint=32, blacklist_categories=("Cs",)), min_size=1, max_size=40).filter(
        lambda s: s.strip() == s and s.strip() != ""
    ),
    meta=st.dictionaries(st.text(max_size=10).filter(lambda k: k not in ("tags",)), _json_scalar, max_size=4),
    value=st.binary(min_size=32, max_size=32),
    fmt=st.sampled_from(["csv", "jsonl"]),
)
def test_round_trip_property(
    source_org: str,
    scheme: str,
    label: str,
    licence: str,
    entry_id: str,
    meta: dict[str, object],
    value: bytes,
    fmt: str,
) -> None:
    """Any text in any field survives export and import unchanged (commas, quotes, newlines, unicode)."""
    entry = make_entry(
        entry_id=entry_id,
        signal_type="pdq",
        value=value.hex(),
        source_org=source_org,
        classification_scheme=scheme,
        classification_label=label,
        licence=licence,
        metadata=meta,
    )
    buf = io.StringIO(newline="")
    get_format(fmt).write([entry], buf)
    [back] = list(get_format(fmt).read(io.StringIO(buf.getvalue(), newline="")))
    assert isinstance(back, ListEntry)
    assert back.content_key() == entry.content_key()
