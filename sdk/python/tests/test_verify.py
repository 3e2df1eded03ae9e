"""Verification without a server: offline start from signed snapshots, and every refusal
(envelope signature, untrusted signer, content digest, version signature, statement subject)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from promptreg import Client, IntegrityError, StartError
from promptreg.state import State
from promptreg.verify import KeyRing, canonical_json, open_snapshot

from .signer import Signer


def _write(tmp_path: Path, envelope: dict[str, Any]) -> Path:
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(envelope))
    return path


def _payload(envelope: dict[str, Any]) -> dict[str, Any]:
    return json.loads(base64.b64decode(envelope["payload"]))  # type: ignore[no-any-return]


def test_offline_start_with_configured_and_own_keys(tmp_path: Path) -> None:
    s = Signer()
    path = _write(tmp_path, s.snapshot([s.version("a/b", 3, "Hi {{ n }}")]))
    for keys in ([s.public], None):
        with Client(snapshot_path=path, trusted_keys=keys) as c:
            r = c.resolve("a/b")
            assert (r.version, r.render({"n": 1})) == (3, "Hi 1")
            assert c.status().source == "snapshot_file"
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps({"keys": [{"key_id": s.keyid, "public_key": s.public}]}))
    with Client(snapshot_path=path, trusted_keys_file=keys_file) as c:
        assert c.resolve("a/b").version == 3


def test_no_server_and_no_file_is_a_start_error() -> None:
    with pytest.raises(StartError, match="no server answered"):
        Client("http://127.0.0.1:9", "t", request_timeout=0.5)
    with pytest.raises(ValueError):
        Client()


def test_another_signer_is_refused(tmp_path: Path) -> None:
    s, other = Signer(), Signer()
    path = _write(tmp_path, s.snapshot([s.version("a/b", 1, "x")]))
    with pytest.raises(IntegrityError, match="no signature by a trusted key"):
        Client(snapshot_path=path, trusted_keys=[other.public])


def test_a_payload_changed_after_signing_is_refused(tmp_path: Path) -> None:
    s = Signer()
    env = s.snapshot([s.version("a/b", 1, "x")])
    doc = _payload(env)
    doc["seq"] = 99
    env["payload"] = base64.b64encode(canonical_json(doc)).decode()
    with pytest.raises(IntegrityError, match=r"snapshot file .*: snapshot: the signature by key "
                                             r"\w+ does not verify"):
        Client(snapshot_path=_write(tmp_path, env), trusted_keys=[s.public])


def test_a_version_whose_content_does_not_match_its_digest_is_refused(tmp_path: Path) -> None:
    s = Signer()
    v = s.version("a/b", 1, "honest")
    v["template"] = "tampered"  # digest and signature still say "honest"
    path = _write(tmp_path, s.snapshot([v]))
    with pytest.raises(IntegrityError, match=r"a/b@1: digest mismatch: the content hashes to"):
        Client(snapshot_path=path)


def test_a_version_signed_for_other_content_is_refused(tmp_path: Path) -> None:
    s = Signer()
    v = s.version("a/b", 1, "x", signed_digest="sha256:" + "ab" * 32)
    with pytest.raises(IntegrityError, match="the signature covers digest sha256:abab"):
        Client(snapshot_path=_write(tmp_path, s.snapshot([v])))


def test_a_signature_of_another_version_is_refused(tmp_path: Path) -> None:
    s = Signer()
    v = s.version("a/b", 1, "x")
    v["signature"] = s.version("a/b", 2, "x")["signature"]
    with pytest.raises(IntegrityError, match="the signature is for a/b@2, not a/b@1"):
        Client(snapshot_path=_write(tmp_path, s.snapshot([v])))


def test_an_unsigned_version_is_refused_unless_allowed(tmp_path: Path) -> None:
    s = Signer()
    v = s.version("a/b", 1, "x")
    del v["signature"]
    path = _write(tmp_path, s.snapshot([v]))
    with pytest.raises(IntegrityError, match="carries no signature"):
        Client(snapshot_path=path)
    with Client(snapshot_path=path, require_signatures=False) as c:
        assert c.resolve("a/b").version == 1


def test_a_snapshot_of_another_environment_is_refused(tmp_path: Path) -> None:
    s = Signer()
    path = _write(tmp_path, s.snapshot([s.version("a/b", 1, "x")], env="staging"))
    with pytest.raises(IntegrityError, match="is of environment 'staging', not 'production'"):
        Client(snapshot_path=path)


def test_a_reload_keeps_the_previous_good_value_of_a_bad_version() -> None:
    s = Signer()
    errors: list[Exception] = []
    state = State("production", None, True, errors.append)
    ring = KeyRing.from_base64([s.public])
    state.load(open_snapshot(s.snapshot([s.version("a/b", 1, "one"),
                                         s.version("c/d", 1, "one")], seq=5),
                             ring, "production"), strict=True)
    bad = s.version("a/b", 2, "two")
    bad["template"] = "evil"
    good = s.version("c/d", 2, "two")
    snap = s.snapshot([bad, good], seq=9)
    doc = _payload(snap)
    for p in doc["prompts"]:
        p["pointer_seq"] = 2
    snap = s.envelope(snap["payloadType"], canonical_json(doc))
    state.load(open_snapshot(snap, ring, "production"), strict=False)
    assert state.resolve("a/b", None, None)[0].version == 1  # kept
    assert state.resolve("c/d", None, None)[0].version == 2  # applied
    assert len(errors) == 1 and "a/b@2: digest mismatch" in str(errors[0])
    assert state.seq == 9
