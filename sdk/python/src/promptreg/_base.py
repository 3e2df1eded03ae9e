"""What the sync and asyncio clients share: configuration, the resolve answer, status, and the
I/O-free handling of snapshots and stream frames."""

from __future__ import annotations

import json
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from .errors import ApiError, IntegrityError, NotFound, PromptregError
from .outcomes import OutcomeStats, outcome_event
from .render import render_content
from .sse import Frame
from .state import Assignment, Overlay, State
from .verify import KeyRing, VerifiedSnapshot, open_snapshot

Json = Any
log = logging.getLogger("promptreg")


@dataclass
class Config:
    """Client options (every one has a default but ``base_url`` or ``snapshot_path``)."""

    base_url: str | None = None
    token: str | None = None
    env: str = "production"
    prefix: str | None = None
    #: Trusted signing keys: base64 of raw Ed25519 public keys. Without these or
    #: ``trusted_keys_file``, an online start pins ``GET /v1/keys`` and an offline start trusts
    #: the snapshot file's own keys (which detects corruption, not a forger).
    trusted_keys: Sequence[str] | None = None
    #: A file in ``GET /v1/keys`` format.
    trusted_keys_file: str | Path | None = None
    #: A signed snapshot (``promptreg snapshot --env ENV -o FILE``) to start from when no server
    #: answers.
    snapshot_path: str | Path | None = None
    #: While the stream is down, entries older than this (seconds) are served stale and
    #: revalidated from a snapshot in the background.
    ttl: float = 60.0
    #: The server's heartbeat interval assumed until its ``ready`` frame says (seconds); silence
    #: longer than twice the heartbeat is a dead stream.
    heartbeat: float = 15.0
    request_timeout: float = 5.0
    backoff_min: float = 0.1
    backoff_max: float = 10.0
    #: Refuse versions without a signature (a server without signing sends none).
    require_signatures: bool = True
    outcome_capacity: int = 10_000
    outcome_batch_size: int = 500
    outcome_flush_interval: float = 1.0
    #: Called with every refused body or failure the client recovers from.
    on_error: Callable[[PromptregError], None] | None = None


@dataclass(frozen=True)
class Resolution:
    """What ``resolve`` answers: the version (with its rollout arm) and whether it is stale."""

    name: str
    env: str
    version: int
    digest: str
    prompt: dict[str, Json]
    assignment: Assignment | None = None
    subject: str | None = None
    stale: bool = False

    @property
    def type(self) -> str:
        return str(self.prompt.get("type"))

    @property
    def template(self) -> str | None:
        t = self.prompt.get("template")
        return t if isinstance(t, str) else None

    @property
    def messages(self) -> list[dict[str, Json]] | None:
        m = self.prompt.get("messages")
        return m if isinstance(m, list) else None

    @property
    def model(self) -> dict[str, Json] | None:
        m = self.prompt.get("model")
        return m if isinstance(m, dict) else None

    def render(self, variables: dict[str, Json] | None = None) -> str | list[dict[str, str]]:
        """Renders locally (see :mod:`promptreg.render`): the text, or the chat messages."""
        return render_content(self.prompt, variables or {})

    def outcome(self, **fields: Any) -> dict[str, Json]:
        """The ``POST /v1/outcomes`` event for a run of this resolution."""
        return outcome_event(self, **fields)


@dataclass
class Status:
    """How current the cache is."""

    source: str
    connected: bool
    seq: int
    staleness: float
    stale: bool
    last_error: str | None
    integrity_errors: int
    #: Change-stream connections opened (the first one included).
    connections: int = 0
    outcomes: OutcomeStats = field(default_factory=OutcomeStats)


class Base:
    """State and rules shared by :class:`~promptreg.Client` and :class:`~promptreg.AsyncClient`."""

    def __init__(self, config: Config) -> None:
        if config.base_url is None and config.snapshot_path is None:
            raise ValueError("a client needs base_url, snapshot_path, or both")
        self.config = config
        self.errors: deque[PromptregError] = deque(maxlen=100)
        self.integrity_errors = 0
        self.last_error: str | None = None
        self.source = "none"
        self.state = State(config.env, config.prefix, config.require_signatures, self._report)
        self._ring = self._configured_ring()
        self._connected = False
        self._last_contact = time.monotonic()
        self._heartbeat = config.heartbeat
        self._last_refresh = 0.0
        self._refreshing = False
        self._closed = False
        self._connections = 0

    # --- configuration -----------------------------------------------------------------------

    def _configured_ring(self) -> KeyRing | None:
        c = self.config
        ring: KeyRing | None = None
        if c.trusted_keys:
            ring = KeyRing.from_base64(c.trusted_keys)
        if c.trusted_keys_file is not None:
            doc = json.loads(Path(c.trusted_keys_file).read_text())
            file_ring = KeyRing.from_keys_json(doc)
            ring = file_ring if ring is None else ring.merged(file_ring)
        return ring

    def _headers(self) -> dict[str, str]:
        h = {"User-Agent": "promptreg-python"}
        if self.config.token:
            h["Authorization"] = f"Bearer {self.config.token}"
        return h

    def _snapshot_params(self) -> dict[str, str]:
        return {"prefix": self.config.prefix} if self.config.prefix else {}

    def _watch_params(self) -> dict[str, str]:
        p = {"env": self.config.env}
        if self.config.prefix:
            p["prefix"] = self.config.prefix
        return p

    # --- errors ------------------------------------------------------------------------------

    def _report(self, error: PromptregError) -> None:
        self.errors.append(error)
        self.last_error = str(error)
        log.warning("promptreg: %s", error)
        if self.config.on_error is not None:
            try:
                self.config.on_error(error)
            except Exception:  # noqa: BLE001 - a faulty callback must not stop the watcher
                log.exception("promptreg: on_error callback failed")
        if isinstance(error, IntegrityError):
            self.integrity_errors += 1  # last: whoever sees the count sees the error too

    def _note_failure(self, what: str, error: BaseException) -> None:
        self.last_error = f"{what}: {error!r}"
        log.info("promptreg: %s", self.last_error)

    # --- snapshots ---------------------------------------------------------------------------

    def _apply_snapshot(self, body: Json, strict: bool) -> None:
        snap = open_snapshot(body, self._ring, self.config.env)
        self._ring = snap.ring
        self.state.load(snap, strict=strict)
        self._last_contact = time.monotonic()

    def _load_file(self) -> VerifiedSnapshot:
        path = Path(str(self.config.snapshot_path))
        what = f"snapshot file {path}"
        try:
            body = json.loads(path.read_bytes())
        except OSError as e:
            raise IntegrityError(what, f"cannot be read: {e.strerror or e}") from e
        except ValueError as e:
            raise IntegrityError(what, f"is not JSON: {e}") from e
        try:
            snap = open_snapshot(body, self._ring, self.config.env)
            self.state.load(snap, strict=True)
        except IntegrityError as e:
            raise IntegrityError(f"{what}: {e.what}", e.reason) from e
        self._ring = snap.ring
        return snap

    # --- stream frames -----------------------------------------------------------------------

    @staticmethod
    def _change(frame: Frame) -> tuple[int, Json]:
        record = json.loads(frame.data)
        seq = int(frame.id) if frame.id else int(record["seq"])
        return seq, record.get("change", {})

    def _ready(self, frame: Frame) -> None:
        data = json.loads(frame.data)
        self.state.advance(int(data.get("seq", 0)))
        hb = data.get("heartbeat_ms")
        if isinstance(hb, int) and hb > 0:
            self._heartbeat = hb / 1000

    def _read_timeout(self) -> float:
        return 2 * self._heartbeat + 0.05

    def _backoff(self, attempt: int) -> float:
        c = self.config
        base: float = min(c.backoff_max, c.backoff_min * (2 ** min(attempt, 16)))
        return base / 2 + random.random() * base / 2

    # --- resolve -----------------------------------------------------------------------------

    def _stale(self) -> bool:
        """Whether entries are past the TTL with the stream down (``True`` also asks for a
        background revalidation: stale-while-revalidate)."""
        if self._connected:
            return False
        return time.monotonic() - self._last_contact > self.config.ttl

    def _want_refresh(self) -> bool:
        now = time.monotonic()
        if self._refreshing or self._closed or self.config.base_url is None:
            return False
        if now - self._last_refresh < min(self.config.ttl, self.config.backoff_max):
            return False
        self._last_refresh = now
        self._refreshing = True
        return True

    def _resolution(self, name: str, subject: str | None, track: str | None) -> Resolution:
        if track is not None and track != "preview":
            raise ValueError(f"unknown track {track!r} (the only track is 'preview')")
        if subject is not None and not (1 <= len(subject.encode()) <= 512):
            raise ValueError("subject: must be 1 to 512 bytes")
        version, assignment = self.state.resolve(name, subject, track)
        return Resolution(
            name=version.name,
            env=self.config.env,
            version=version.version,
            digest=version.digest,
            prompt=version.raw,
            assignment=assignment,
            subject=subject,
            stale=self._stale(),
        )

    def rollout(self, name: str) -> Overlay | None:
        """The active rollout of ``name`` as the cache holds it (``None``: none, or ended)."""
        o = self.state.rollout(name)
        return None if o is None or o.ended else o

    def _status(self, outcomes: OutcomeStats | None) -> Status:
        return Status(
            source=self.source,
            connected=self._connected,
            seq=self.state.seq,
            staleness=0.0 if self._connected else time.monotonic() - self._last_contact,
            stale=self._stale(),
            last_error=self.last_error,
            integrity_errors=self.integrity_errors,
            connections=self._connections,
            outcomes=outcomes or OutcomeStats(),
        )


def raise_for_api(r: httpx.Response) -> None:
    """Raises :class:`ApiError` (or :class:`NotFound`) for an error answer."""
    if r.status_code < 400:
        return
    try:
        err = r.json().get("error", {})
        code, message = str(err.get("code")), str(err.get("message"))
    except (ValueError, AttributeError):
        code, message = "http_error", r.text[:200]
    if r.status_code == 404:
        raise NotFound(f"{code}: {message}")
    raise ApiError(r.status_code, code, message)


def server_unreachable(e: BaseException) -> bool:
    """Whether an error means "no server answers" (start from the file) rather than a refusal."""
    if isinstance(e, httpx.TransportError):
        return True
    return isinstance(e, ApiError) and e.status >= 500


__all__ = ["Base", "Config", "Resolution", "Status", "raise_for_api", "server_unreachable"]
