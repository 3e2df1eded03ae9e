"""The cache's rules without a server: newer-only application, rollout tombstones, and the
server's arm rules for blue-green (preview before the switch, the pointer after)."""

from __future__ import annotations

from typing import Any

import pytest

from promptreg.bucket import bucket
from promptreg.errors import NotFound
from promptreg.state import Live, State
from promptreg.verify import VerifiedVersion


def _v(n: int) -> VerifiedVersion:
    return VerifiedVersion("p", n, f"sha256:{n:064x}", {"name": "p", "version": n})


def _state(live: VerifiedVersion) -> State:
    s = State("production", None, True, lambda e: None)
    s._live["p"] = Live(live, 1)
    return s


def _pointer(seq: int, v: VerifiedVersion) -> dict[str, Any]:
    return {"event": "pointer_moved", "env": "production", "name": "p", "seq": seq,
            "to_version": v.version, "digest": v.digest}


def _rollout(rid: str, rev: int, *, strategy: str = "canary", status: str = "progressing",
             weight: int = 0, switched: bool = False, cand: VerifiedVersion) -> dict[str, Any]:
    return {"event": "rollout_changed", "env": "production", "name": "p", "rollout": rid,
            "revision": rev, "strategy": strategy, "status": status, "step": 1,
            "weight": weight, "switched": switched, "candidate_version": cand.version,
            "candidate_digest": cand.digest}


def test_pointer_moves_apply_only_if_newer() -> None:
    s = _state(_v(1))
    s.apply(_pointer(3, _v(3)), _v(3), seq=10)
    s.apply(_pointer(2, _v(2)), _v(2), seq=9)  # late: ignored
    assert s.resolve("p", None, None)[0].version == 3
    assert s.wants(_pointer(2, _v(2))) is None
    assert s.wants(_pointer(4, _v(4))) is not None
    with pytest.raises(NotFound):
        s.resolve("q", None, None)


def test_blue_green_preview_then_switch() -> None:
    s = _state(_v(1))
    c = _v(2)
    s.apply(_rollout("r1", 1, strategy="blue_green", cand=c), c, seq=5)
    assert s.resolve("p", "agent", None)[0].version == 1
    v, a = s.resolve("p", None, "preview")
    assert (v.version, a and a.arm, a and a.bucket) == (2, "preview", None)
    # After the switch the pointer is the candidate and preview is over.
    s.apply(_pointer(2, c), c, seq=6)
    s.apply(_rollout("r1", 2, strategy="blue_green", switched=True, cand=c), c, seq=7)
    v, a = s.resolve("p", "agent", None)
    assert v.version == 2 and a is not None and a.arm == "candidate"
    assert s.resolve("p", None, "preview")[1] is None


def test_canary_arms_follow_the_bucket_and_a_finished_rollout_stays_finished() -> None:
    s = _state(_v(1))
    c = _v(2)
    s.apply(_rollout("r1", 1, weight=2500, cand=c), c, seq=5)
    for i in range(200):
        v, a = s.resolve("p", f"s{i}", None)
        b = bucket("r1", f"s{i}")
        assert a is not None and a.bucket == b
        assert (v.version, a.arm) == ((2, "candidate") if b < 2500 else (1, "stable"))
    s.apply(_rollout("r1", 2, status="aborted", cand=c), None, seq=6)
    s.apply(_rollout("r1", 1, weight=2500, cand=c), c, seq=5)  # replayed: stays ended
    assert s.resolve("p", "s1", None) == (_v(1), None)
