"""Validation against the repository's CyberTipline XSD, and the one safe way we parse XML.

Why validate every build: an invalid report is rejected by the API (response code 4100) at the worst moment, with
a person waiting; failing in our process instead names the field. Why lxml: libxml2 implements XSD 1.0 fully and
fast. The parser refuses DTDs, entity expansion, network access and oversized input, because responses come from
the network and submissions into the fake server come from clients under test.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from lxml import etree

from blindmatch.reporting.errors import ResponseParseError, SchemaValidationError

__all__ = ["MAX_XML_BYTES", "parse_xml", "schema", "validate"]

#: Largest XML document we parse (a report with 20,000-character free-text fields is far below this).
MAX_XML_BYTES = 2 * 1024 * 1024


@cache
def schema() -> etree.XMLSchema:
    """The compiled ``schemas/cybertipline.xsd`` shipped inside the package."""
    data = resources.files("blindmatch.reporting").joinpath("schemas/cybertipline.xsd").read_bytes()
    return etree.XMLSchema(etree.fromstring(data, _parser()))


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
    )


def parse_xml(data: bytes, what: str) -> etree._Element:
    """Parse untrusted XML: no DTD, no entities, no network, at most :data:`MAX_XML_BYTES`."""
    if not isinstance(data, bytes):
        raise ResponseParseError(f"{what}: expected bytes, got {type(data).__name__}")
    if len(data) > MAX_XML_BYTES:
        raise ResponseParseError(f"{what}: {len(data):,} bytes is more than the {MAX_XML_BYTES:,} accepted")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ResponseParseError(f"{what}: document type declarations are refused")
    try:
        return etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise ResponseParseError(f"{what}: not well-formed XML ({exc})") from exc


def validate(data: bytes, root: str) -> etree._Element:
    """Parse ``data``, check that its root element is ``root`` and that it validates; return the root element."""
    try:
        element = parse_xml(data, f"<{root}>")
    except ResponseParseError as exc:
        raise SchemaValidationError(f"<{root}>", [str(exc)]) from exc
    tag = element.tag if isinstance(element.tag, str) else repr(element.tag)
    if tag != root:
        raise SchemaValidationError(f"<{root}>", [f"root element is <{tag}>, expected <{root}>"])
    xsd = schema()
    if not xsd.validate(element):
        problems = [f"line {e.line}: {e.message}" for e in xsd.error_log]
        raise SchemaValidationError(f"<{root}>", problems or ["invalid"])
    return element
