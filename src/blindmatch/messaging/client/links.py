"""Link detection for no-media mode: accounts without consent may send text, but not links.

Catches scheme URLs (``https://``, ``ftp://``, ...), ``www.`` hosts, bare domains with a common or two-letter
top-level domain (``example.com/x``, ``bit.ly``), and IP-address hosts. It errs on the side of refusing: a
sentence like "see foo.com" counts as a link.
"""

from __future__ import annotations

import re

__all__ = ["contains_link"]

_TLDS = "com|org|net|edu|gov|mil|int|info|biz|io|ly|me|co|app|dev|xyz|site|online|top|club|link|live|ru|cn|tk|onion"
_LINK = re.compile(
    r"(?i)(?:\b[a-z][a-z0-9+.-]{1,15}://\S+"
    r"|\bwww\.[^\s.]+\.\S+"
    r"|\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:" + _TLDS + r"|[a-z]{2})\b(?:[/:?#]\S*)?"
    r"|\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?/\S*)"
)


def contains_link(text: str) -> bool:
    return _LINK.search(text) is not None
