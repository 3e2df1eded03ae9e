"""The cache an SDK client serves from: live versions and rollout overlays of one environment,
kept current by snapshots and change-stream events, free of I/O so that the sync and the asyncio
clients share it.

Every change applies only if it is newer (a pointer's ``seq``, a rollout's ``(id, revision)``),
so a snapshot racing the stream, or an event replayed after a reconnect, never puts an older
value back. Resolve follows the server's rule (``Registry::resolve``) exactly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .bucket import bucket as bucket_of
from .bucket import is_candidate
from .errors import IntegrityError, NotFound
from .verify import KeyRing, VerifiedSnapshot, VerifiedVersion, verify_version

Json = Any
TERMINAL = frozenset({"promoted", "aborted", "rolled_back"})


@dataclass(frozen=True)
class Overlay:
    """A pointer's rollout as of one revision; ``ended`` keeps a tombstone so a late event of a
    finished rollout cannot bring it back."""

    id: str
    revision: int
    strategy: str
    status: str
    step: int
    weight: int
    switched: bool
    candidate: VerifiedVersion | None
    ended: bool = False

    @property
    def preview(self) -> bool:
        """Blue-green before its switch: the candidate is served on ``track="preview"`` only."""
        return self.strategy == "blue_green" and not self.switched

    def is_older_than(self, rollout_id: str, revision: int) -> bool:
        """Rollout ids are UUID v7 (later ones sort higher), as the server's index compares."""
        if self.id != rollout_id:
            return self.id < rollout_id
        return self.revision < revision


@dataclass(frozen=True)
class Live:
    """A live pointer: its version and the pointer record's ``seq``."""

    version: VerifiedVersion
    pointer_seq: int


@dataclass(frozen=True)
class Assignment:
    """The rollout arm a subject gets (``assignment`` in the server's resolve answer)."""

    rollout: str
    arm: str
    bucket: int | None
    step: int


@dataclass(frozen=True)
class Fetch:
    """A version an event needs that the cache does not hold."""

    name: str
    version: int
    digest: str


class State:
    """The cache of one environment. Thread-safe: the watcher writes, callers read."""

    def __init__(
        self,
        env: str,
        prefix: str | None,
        require_signature: bool,
        on_error: Callable[[IntegrityError], None],
    ) -> None:
        self.env = env
        self.prefix = prefix
        self.require_signature = require_signature
        self.project: str | None = None
        self.ring = KeyRing()
        self.seq = 0
        self.loaded = False
        self._on_error = on_error
        self._lock = threading.Lock()
        self._live: dict[str, Live] = {}
        self._rollouts: dict[str, Overlay] = {}

    # --- snapshots ---------------------------------------------------------------------------

    def load(self, snap: VerifiedSnapshot, strict: bool) -> None:
        """Applies a verified snapshot. ``strict`` (start-up, nothing cached yet): a version that
        fails verification refuses the whole snapshot. Otherwise it is reported and the previous
        good value kept."""
        doc = snap.doc
        project = str(doc.get("project"))
        live: dict[str, Live] = {}
        rollouts: dict[str, Overlay] = {}
        for p in doc["prompts"]:
            name = str(p.get("name"))
            try:
                v = verify_version(
                    p.get("live"), snap.ring, project, require_signature=self.require_signature
                )
                if v.name != name:
                    raise IntegrityError(name, f"the snapshot's live version is of {v.name}")
                live[name] = Live(v, int(p.get("pointer_seq", 0)))
                r = p.get("rollout")
                if r is not None:
                    cand = verify_version(
                        r.get("candidate"),
                        snap.ring,
                        project,
                        require_signature=self.require_signature,
                    )
                    rollouts[name] = _overlay(r, cand)
            except IntegrityError as e:
                if strict:
                    raise
                self._on_error(e)
        with self._lock:
            self.project = project
            self.ring = snap.ring
            for name, entry in live.items():
                old = self._live.get(name)
                if old is None or old.pointer_seq <= entry.pointer_seq:
                    self._live[name] = entry
            for name, old_overlay in list(self._rollouts.items()):
                # An active rollout the snapshot no longer lists has ended.
                if name in live and name not in rollouts and not old_overlay.ended:
                    self._rollouts[name] = _ended(old_overlay)
            for name, overlay in rollouts.items():
                current = self._rollouts.get(name)
                if current is None or current.is_older_than(overlay.id, overlay.revision):
                    self._rollouts[name] = overlay
            self.seq = max(self.seq, snap.seq) if self.loaded else snap.seq
            self.loaded = True

    # --- events ------------------------------------------------------------------------------

    def wants(self, change: Json) -> Fetch | None:
        """What an event needs fetched first (``None``: nothing, apply it as it is)."""
        kind = change.get("event")
        name = str(change.get("name"))
        with self._lock:
            if kind == "pointer_moved":
                cur = self._live.get(name)
                if cur is not None and cur.pointer_seq >= int(change["seq"]):
                    return None
                number, digest = int(change["to_version"]), str(change["digest"])
            elif kind == "rollout_changed" and change.get("status") not in TERMINAL:
                number = int(change["candidate_version"])
                digest = str(change["candidate_digest"])
            else:
                return None
            if self._known(name, number, digest) is not None:
                return None
        return Fetch(name, number, digest)

    def _known(self, name: str, number: int, digest: str) -> VerifiedVersion | None:
        cur = self._live.get(name)
        candidates = [cur.version if cur else None]
        ov = self._rollouts.get(name)
        candidates.append(ov.candidate if ov else None)
        for v in candidates:
            if v is not None and v.version == number and v.digest == digest:
                return v
        return None

    def verify_fetched(self, body: Json, fetch: Fetch) -> VerifiedVersion:
        """Verifies a version fetched for an event against the digest the event announced."""
        v = verify_version(
            body,
            self.ring,
            self.project,
            expected_digest=fetch.digest,
            require_signature=self.require_signature,
        )
        if (v.name, v.version) != (fetch.name, fetch.version):
            raise IntegrityError(
                f"{fetch.name}@{fetch.version}", f"the server answered {v.name}@{v.version}"
            )
        return v

    def apply(self, change: Json, fetched: VerifiedVersion | None, seq: int) -> None:
        """Applies an event of the stream (``change`` is its ``EventRecord.change``)."""
        kind = change.get("event")
        name = str(change.get("name"))
        with self._lock:
            if kind == "pointer_moved" and change.get("env") == self.env:
                version = fetched or self._known(
                    name, int(change["to_version"]), str(change["digest"])
                )
                cur = self._live.get(name)
                if version is not None and (cur is None or cur.pointer_seq < int(change["seq"])):
                    self._live[name] = Live(version, int(change["seq"]))
            elif kind == "rollout_changed" and change.get("env") == self.env:
                cur_ov = self._rollouts.get(name)
                rid, rev = str(change["rollout"]), int(change["revision"])
                if cur_ov is None or cur_ov.is_older_than(rid, rev):
                    if change.get("status") in TERMINAL:
                        self._rollouts[name] = Overlay(
                            rid, rev, str(change.get("strategy")), str(change["status"]),
                            int(change.get("step", 0)), 0, bool(change.get("switched")), None,
                            ended=True,
                        )
                    else:
                        cand = fetched or self._known(
                            name, int(change["candidate_version"]), str(change["candidate_digest"])
                        )
                        if cand is not None:
                            self._rollouts[name] = _overlay(change, cand, rid, rev)
            self.seq = max(self.seq, seq)

    def advance(self, seq: int) -> None:
        """Everything up to ``seq`` has been seen (a ``ready`` frame, or a refused event)."""
        with self._lock:
            self.seq = max(self.seq, seq)

    # --- resolve -----------------------------------------------------------------------------

    def resolve(
        self, name: str, subject: str | None, track: str | None
    ) -> tuple[VerifiedVersion, Assignment | None]:
        """The version a caller gets, by the server's rule: without subject or track, the live
        version; ``track="preview"`` during a blue-green before its switch, the candidate; with a
        subject during a rollout, the sticky arm."""
        live = self._live.get(name)
        if live is None:
            raise NotFound(f"prompt {name!r} is not live in environment {self.env!r}")
        if subject is None and track is None:
            return live.version, None
        o = self._rollouts.get(name)
        if o is None or o.ended:
            return live.version, None
        if track == "preview" and o.preview and o.candidate is not None:
            return o.candidate, Assignment(o.id, "preview", None, o.step)
        if subject is None:
            return live.version, None
        b = bucket_of(o.id, subject)
        on_candidate = o.switched or is_candidate(b, o.weight)
        if on_candidate and not o.switched and o.candidate is not None:
            return o.candidate, Assignment(o.id, "candidate", b, o.step)
        return live.version, Assignment(o.id, "candidate" if on_candidate else "stable", b, o.step)

    def rollout(self, name: str) -> Overlay | None:
        """The rollout overlay (or tombstone) of ``name``."""
        return self._rollouts.get(name)

    def names(self) -> list[str]:
        """The prompts live in the cache."""
        with self._lock:
            return sorted(self._live)


def _overlay(
    r: Json, candidate: VerifiedVersion, rid: str | None = None, rev: int | None = None
) -> Overlay:
    return Overlay(
        id=rid if rid is not None else str(r["id"]),
        revision=rev if rev is not None else int(r["revision"]),
        strategy=str(r.get("strategy")),
        status=str(r.get("status")),
        step=int(r.get("step", 0)),
        weight=int(r.get("weight", 0)),
        switched=bool(r.get("switched")),
        candidate=candidate,
    )


def _ended(o: Overlay) -> Overlay:
    return Overlay(o.id, o.revision, o.strategy, o.status, o.step, 0, o.switched, None, True)
