"""Exceptions raised by the evaluation lab.

Every failure the lab can diagnose (an unknown transform name, an empty image folder, a probability outside
[0, 1]) gets its own class under :class:`EvalError`, so the CLI can print one clear line instead of a
traceback and callers can tell "you asked for something impossible" from a genuine bug.
"""

from __future__ import annotations

__all__ = [
    "EvalError",
    "HasherUnavailableError",
    "InvalidParameterError",
    "NoImagesError",
    "UnknownHasherError",
    "UnknownTransformError",
]


class EvalError(Exception):
    """Base class of every error raised by ``blindmatch.eval``."""


class UnknownTransformError(EvalError, KeyError):
    """A transform or family name that is not in the registry."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else "unknown transform"


class InvalidParameterError(EvalError, ValueError):
    """A numeric parameter outside its meaningful range (probability, count, threshold...)."""


class NoImagesError(EvalError):
    """A corpus folder that does not exist or holds no readable image."""


class HasherUnavailableError(EvalError):
    """A hasher whose implementation (our PDQ, pdqhash, imagehash) cannot be imported here."""


class UnknownHasherError(EvalError, KeyError):
    """A hasher name that is not one of the lab's adapters."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown hasher"
