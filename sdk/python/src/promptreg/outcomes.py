"""Outcome reporting: what happened when an agent ran a prompt, batched to ``POST /v1/outcomes``
in the background.

The caller never waits: :meth:`report` puts the event on a bounded queue and returns at once.
When the queue is full, or a batch cannot be delivered (the server is gone), events are dropped
and counted (:attr:`OutcomeStats.dropped`) rather than held without limit. ``close`` flushes.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import queue
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from ._base import Resolution

Json = Any
MAX_BATCH = 10_000  # the server's per-request limit


@dataclass
class OutcomeStats:
    """Counters of a reporter. ``dropped`` = queue full or batch undeliverable; ``rejected`` = the
    server refused the event (its ``results`` say why: ``last_rejection``)."""

    queued: int = 0
    sent: int = 0
    rejected: int = 0
    dropped: int = 0
    last_error: str | None = None
    last_rejection: Json = None


def outcome_event(
    resolution: Resolution,
    *,
    success: bool | None = None,
    latency_ms: float | None = None,
    cost: float | None = None,
    score: float | None = None,
    unsafe_action: bool | None = None,
    policy_violation: bool | None = None,
    correlation_id: str | None = None,
    subject: str | None = None,
    id: str | None = None,
    extra: Mapping[str, Json] | None = None,
) -> dict[str, Json]:
    """The ``POST /v1/outcomes`` event for a run of ``resolution``."""
    event: dict[str, Json] = {
        "id": id or str(uuid.uuid4()),
        "prompt": resolution.name,
        "env": resolution.env,
        "version": resolution.version,
        "digest": resolution.digest,
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat().replace("+00:00", "Z"),
    }
    if resolution.assignment is not None:
        event["rollout"] = resolution.assignment.rollout
        event["arm"] = resolution.assignment.arm
    optional = {
        "success": success, "latency_ms": latency_ms, "cost": cost, "score": score,
        "unsafe_action": unsafe_action, "policy_violation": policy_violation,
        "correlation_id": correlation_id, "subject": subject or resolution.subject,
    }
    event.update({k: v for k, v in optional.items() if v is not None})
    if extra:
        event.update(extra)
    return event


def _account(stats: OutcomeStats, batch: list[Json], response: httpx.Response | None,
             error: str | None) -> None:
    if response is None or response.status_code != 200:
        stats.dropped += len(batch)
        stats.last_error = error or (
            f"POST /v1/outcomes answered {response.status_code}: {response.text[:200]}"
            if response is not None else "no answer"
        )
        return
    body = response.json()
    stats.sent += int(body.get("accepted", 0))
    stats.rejected += int(body.get("rejected", 0))
    for r in body.get("results", []):
        if not r.get("accepted", True):
            stats.last_rejection = r


class OutcomeReporter:
    """A background thread batching outcomes to the server (the sync client's)."""

    def __init__(self, http: httpx.Client, capacity: int = 10_000, batch_size: int = 500,
                 flush_interval: float = 1.0) -> None:
        self.stats = OutcomeStats()
        self._http = http
        self._queue: queue.Queue[Json] = queue.Queue(maxsize=capacity)
        self._batch_size = min(batch_size, MAX_BATCH)
        self._interval = flush_interval
        self._pending = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="promptreg-outcomes", daemon=True)
        self._thread.start()

    def report(self, event: Json) -> bool:
        """Queues an event; ``False`` (and counted as dropped) when the queue is full or closed."""
        if self._closed.is_set():
            self.stats.dropped += 1
            return False
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.stats.dropped += 1
            return False
        with self._lock:
            self._pending += 1
            self.stats.queued += 1
        return True

    def _run(self) -> None:
        while not (self._closed.is_set() and self._queue.empty()):
            try:
                first = self._queue.get(timeout=self._interval)
            except queue.Empty:
                continue
            batch = [first]
            while len(batch) < self._batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._send(batch)
            with self._lock:
                self._pending -= len(batch)

    def _send(self, batch: list[Json]) -> None:
        try:
            r = self._http.post("/v1/outcomes", json={"events": batch})
            _account(self.stats, batch, r, None)
        except httpx.HTTPError as e:
            _account(self.stats, batch, None, f"POST /v1/outcomes failed: {e!r}")

    def flush(self, timeout: float = 5.0) -> bool:
        """Waits until everything queued was sent (or dropped); ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        while self._pending > 0:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Flushes and stops the thread."""
        self.flush(timeout)
        self._closed.set()
        self._thread.join(timeout)


class AsyncOutcomeReporter:
    """The asyncio client's reporter: an asyncio task instead of a thread."""

    def __init__(self, http: httpx.AsyncClient, capacity: int = 10_000, batch_size: int = 500,
                 flush_interval: float = 1.0) -> None:
        self.stats = OutcomeStats()
        self._http = http
        self._queue: asyncio.Queue[Json] = asyncio.Queue(maxsize=capacity)
        self._batch_size = min(batch_size, MAX_BATCH)
        self._interval = flush_interval
        self._pending = 0
        self._closed = False
        self._task = asyncio.get_running_loop().create_task(self._run())

    def report(self, event: Json) -> bool:
        """Queues an event; ``False`` (and counted as dropped) when the queue is full or closed."""
        if self._closed:
            self.stats.dropped += 1
            return False
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.stats.dropped += 1
            return False
        self._pending += 1
        self.stats.queued += 1
        return True

    async def _run(self) -> None:
        while True:
            try:
                first = await asyncio.wait_for(self._queue.get(), self._interval)
            except asyncio.TimeoutError:
                if self._closed:
                    return
                continue
            batch = [first]
            while len(batch) < self._batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                r = await self._http.post("/v1/outcomes", json={"events": batch})
                _account(self.stats, batch, r, None)
            except httpx.HTTPError as e:
                _account(self.stats, batch, None, f"POST /v1/outcomes failed: {e!r}")
            self._pending -= len(batch)

    async def flush(self, timeout: float = 5.0) -> bool:
        """Waits until everything queued was sent (or dropped); ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        while self._pending > 0:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def close(self, timeout: float = 5.0) -> None:
        """Flushes and stops the task."""
        await self.flush(timeout)
        self._closed = True
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
