"""Group commit for the relay: one writer thread stores many sends and acks per transaction, then pushes.

Why: a send used to cost its own transaction (and, on SQLite, its own WAL commit) plus a re-read of the queue by
every WebSocket it woke. Under load most of that is overhead per transaction, not per row. Requests now put their
work on a queue; the writer takes everything that is waiting (up to ``max_batch``), runs it in **one** transaction
(:meth:`RelayStore.submit_batch`) and only then resolves each request's future, so an answer still means
"committed". The deliveries it created are handed straight to :class:`Notifier`, which wakes the recipients'
WebSockets with the rows themselves: no second query per push.

If a batch fails as a whole (a database error, e.g. a lost race on PostgreSQL with another worker), its sends are
retried one by one with :meth:`RelayStore.submit`, so one bad request cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from blindmatch.messaging.relay import Delivery, SendRequest
from blindmatch.service.storage.relay import AuthenticatedDevice, RelayStore, SubmitResult, Tagger

__all__ = ["Notifier", "RelayWriter", "Subscriber"]

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Subscriber:
    """One WebSocket's inbox in memory: deliveries pushed after commit, and an event to wake its sender."""

    loop: asyncio.AbstractEventLoop
    event: asyncio.Event = field(default_factory=asyncio.Event)
    pushed: deque[Delivery] = field(default_factory=deque)

    def _add(self, deliveries: Sequence[Delivery]) -> None:
        self.pushed.extend(deliveries)
        self.event.set()

    def wake(self) -> None:
        self.event.set()

    def drain(self) -> list[Delivery]:
        out = list(self.pushed)
        self.pushed.clear()
        return out


class Notifier:
    """Hands committed deliveries to the WebSockets of their recipient device (same process only; WebSockets
    of other worker processes find them by polling the queue table)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: dict[int, set[Subscriber]] = {}

    def subscribe(self, device_pk: int, sub: Subscriber) -> None:
        with self._lock:
            self._subs.setdefault(device_pk, set()).add(sub)

    def unsubscribe(self, device_pk: int, sub: Subscriber) -> None:
        with self._lock:
            subs = self._subs.get(device_pk)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[device_pk]

    def push(self, by_device: dict[int, list[Delivery]]) -> None:
        with self._lock:
            targets = [(sub, ds) for pk, ds in by_device.items() for sub in self._subs.get(pk, ())]
        for sub, ds in targets:
            sub.loop.call_soon_threadsafe(sub._add, ds)

    def notify(self, device_pk: int) -> None:
        """Wake the device's WebSockets without rows (they re-read the queue)."""
        with self._lock:
            subs = list(self._subs.get(device_pk, ()))
        for sub in subs:
            sub.loop.call_soon_threadsafe(sub.wake)


@dataclass
class _Send:
    sender: AuthenticatedDevice
    req: SendRequest
    future: concurrent.futures.Future[SubmitResult]


@dataclass
class _Ack:
    device: AuthenticatedDevice
    ids: Sequence[int]
    future: concurrent.futures.Future[int]


class RelayWriter:
    """The relay's single writer thread (per process). Thread-safe; start it once with :meth:`start`."""

    def __init__(self, store: RelayStore, tagger: Tagger, notifier: Notifier, *, max_batch: int = 512) -> None:
        self.store = store
        self.tagger = tagger
        self.notifier = notifier
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Send | _Ack] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        #: transactions and rows written, for the benchmark's report
        self.batches = 0
        self.items = 0

    def start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="relay-writer", daemon=True)
                self._thread.start()

    def submit(self, sender: AuthenticatedDevice, req: SendRequest) -> concurrent.futures.Future[SubmitResult]:
        fut: concurrent.futures.Future[SubmitResult] = concurrent.futures.Future()
        self._queue.put(_Send(sender, req, fut))
        return fut

    def ack(self, device: AuthenticatedDevice, ids: Sequence[int]) -> concurrent.futures.Future[int]:
        fut: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._queue.put(_Ack(device, list(ids), fut))
        return fut

    async def submit_async(self, sender: AuthenticatedDevice, req: SendRequest) -> SubmitResult:
        return await asyncio.wrap_future(self.submit(sender, req))

    async def ack_async(self, device: AuthenticatedDevice, ids: Sequence[int]) -> int:
        return await asyncio.wrap_future(self.ack(device, ids))

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._process(batch)
            except Exception as exc:  # never let the writer die: fail the requests instead
                log.exception("relay writer: batch failed")
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)

    def _process(self, batch: list[_Send | _Ack]) -> None:
        sends = [b for b in batch if isinstance(b, _Send)]
        acks = [b for b in batch if isinstance(b, _Ack)]
        try:
            outcomes, removed = self.store.submit_batch(
                [(s.sender, s.req) for s in sends], self.tagger, [(a.device, a.ids) for a in acks]
            )
        except SQLAlchemyError:
            log.warning("relay writer: group commit of %d items failed; retrying one by one", len(batch))
            self._one_by_one(sends, acks)
            return
        self.batches += 1
        self.items += len(batch)
        by_device: dict[int, list[Delivery]] = {}
        for out in outcomes:
            if isinstance(out, Exception):
                continue
            for rpk, d in out[1]:
                by_device.setdefault(rpk, []).append(d)
        if by_device:
            self.notifier.push(by_device)
        for s, out in zip(sends, outcomes, strict=True):
            if isinstance(out, Exception):
                s.future.set_exception(out)
            else:
                s.future.set_result(out[0])
        for a, n in zip(acks, removed, strict=True):
            a.future.set_result(n)

    def _one_by_one(self, sends: list[_Send], acks: list[_Ack]) -> None:
        for s in sends:
            try:
                result = self.store.submit(s.sender, s.req, self.tagger)
            except Exception as exc:
                s.future.set_exception(exc)
                continue
            if not result.duplicate:
                for c in s.req.recipients:
                    for pk in self.store.device_pks(c.user_id, c.device_id):
                        self.notifier.notify(pk)
            s.future.set_result(result)
        for a in acks:
            try:
                a.future.set_result(self.store.ack(a.device, a.ids))
            except Exception as exc:
                a.future.set_exception(exc)
