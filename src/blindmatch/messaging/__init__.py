"""blindmatch.messaging: the end-to-end encrypted reference messenger.

``crypto`` (identities, Olm/Megolm, envelopes, attachments, franking, HPKE reports, safety numbers), ``client``
(async SDK with consent / no-media mode), ``relay`` (request validation and server keys for the relay routes in
:mod:`blindmatch.service.routes_relay`), ``chat`` (synchronous entry points for the CLI). See docs/messenger.md.
"""
