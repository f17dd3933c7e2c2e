"""blindmatch.privacy — private matching of media against an auditable, blinded hash list.

Spec: ``docs/protocol.md``; threat model: ``docs/privacy.md``. Modules, bottom-up:

* ``group`` — ristretto255 points and scalars (the only module that calls libsodium via ``rbcl``);
* ``scheme`` / ``tokens`` — the ``TokenScheme`` contract and the fuzzy PDQ token schemes;
* ``table`` (custodian's cuckoo table), ``merkle``, ``manifest`` (signed, k-of-n), ``published`` (table and
  delta encodings, client verification), ``dleq`` and ``audit`` (auditor checks);
* ``shamir`` (threshold sharing with Berlekamp–Welch decoding), ``wire``, ``kdf``;
* ``client`` (vouchers), ``server`` (aggregation, threshold events), ``oprf`` (optional warn-before-send);
* ``api`` (entry points for the CLI and service), ``bench`` (measurements).
"""
