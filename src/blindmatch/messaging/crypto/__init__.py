"""Cryptography of the reference messenger: identities, Olm/Megolm sessions, envelopes, attachments, franking,
HPKE-sealed reports and safety numbers. Pure functions and small wrappers; no I/O."""
