"""blindmatch: private detection of known abuse imagery for end-to-end encrypted messengers."""

__version__ = "0.1.0"
