"""Verification of what the server sends: content digests, DSSE envelopes, version signatures
and signed environment snapshots.

The formats are the server's (``promptreg_core::content``, ``promptreg_core::integrity``):

- a version's digest is ``sha256:`` + hex SHA-256 of the RFC 8785 canonical JSON of its content
  (``type``, ``template`` or ``messages``, ``variables``, ``model``; absent or null members left
  out);
- a DSSE signature covers ``PAE(payloadType, payload)``; the key id is a hint, trust comes from the
  key ring;
- a version's signature is a DSSE envelope over an in-toto Statement v1 whose one subject is
  ``<project>/<name>@<version>`` with the version's digest.

Whatever fails is refused with :class:`~promptreg.errors.IntegrityError`, never warned about.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .errors import IntegrityError

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
ENV_SNAPSHOT_PAYLOAD_TYPE = "application/vnd.promptreg.env-snapshot+json"
ENV_SNAPSHOT_FORMAT = "promptreg-env-snapshot/v1"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
VERSION_PREDICATE = "https://promptreg.dev/attestation/prompt-version/v1"

Json = Any


def canonical_json(value: Json) -> bytes:
    """RFC 8785 (JCS) serialisation, the bytes the server digests and signs."""
    return rfc8785.dumps(value)


def sha256_digest(data: bytes) -> str:
    """``sha256:<64 lowercase hex>``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def content_of(version: Mapping[str, Json]) -> dict[str, Json]:
    """The content object of a version answer (``VersionView``): exactly the members the server
    digests. Chat entries are normalised as the server serialises them (``{"role", "content"}``
    or ``{"type": "placeholder", "name"}``)."""
    kind = version.get("type")
    content: dict[str, Json] = {"type": kind}
    if kind == "text":
        content["template"] = version.get("template")
    elif kind == "chat":
        messages = version.get("messages")
        if not isinstance(messages, list):
            raise IntegrityError(_label(version), "a chat version without a list of messages")
        entries: list[Json] = []
        for m in messages:
            if not isinstance(m, dict):
                raise IntegrityError(_label(version), "a chat message that is not an object")
            if m.get("type") == "placeholder":
                entries.append({"type": "placeholder", "name": m.get("name")})
            else:
                entries.append({"role": m.get("role"), "content": m.get("content")})
        content["messages"] = entries
    else:
        raise IntegrityError(_label(version), f"unknown prompt type {kind!r}")
    for key in ("variables", "model"):
        if version.get(key) is not None:
            content[key] = version[key]
    return content


def content_digest(version: Mapping[str, Json]) -> str:
    """The digest the server computes for a version's content."""
    try:
        return sha256_digest(canonical_json(content_of(version)))
    except rfc8785.CanonicalizationError as e:
        raise IntegrityError(_label(version), f"content cannot be canonicalised: {e}") from e


def key_id(public_key: bytes) -> str:
    """The server's key id: the first 8 bytes of SHA-256 of the raw key, as 16 hex digits."""
    return hashlib.sha256(public_key).hexdigest()[:16]


class KeyRing:
    """Trusted Ed25519 public keys by key id."""

    def __init__(self, keys: Iterable[bytes] = ()) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}
        for raw in keys:
            self.add(raw)

    def add(self, raw: bytes) -> str:
        """Trusts a raw 32-byte public key; returns its key id."""
        if len(raw) != 32:
            raise IntegrityError("key", f"an Ed25519 public key is 32 bytes, not {len(raw)}")
        kid = key_id(raw)
        self._keys[kid] = Ed25519PublicKey.from_public_bytes(raw)
        return kid

    @classmethod
    def from_base64(cls, keys: Iterable[str]) -> KeyRing:
        """Keys as base64 of the raw 32 bytes (``public_key`` in ``GET /v1/keys``)."""
        return cls(_b64(k, "a public key") for k in keys)

    @classmethod
    def from_keys_json(cls, doc: Json) -> KeyRing:
        """``GET /v1/keys``'s answer ``{"keys": [{"public_key", ...}]}`` or its list."""
        items = doc.get("keys") if isinstance(doc, dict) else doc
        if not isinstance(items, list):
            raise IntegrityError("keys", 'expected {"keys": [...]} as GET /v1/keys answers')
        return cls.from_base64(str(k.get("public_key", "")) for k in items if isinstance(k, dict))

    def merged(self, other: KeyRing) -> KeyRing:
        """A ring trusting the keys of both."""
        ring = KeyRing()
        ring._keys = {**self._keys, **other._keys}
        return ring

    def key_ids(self) -> list[str]:
        """The trusted key ids."""
        return sorted(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def verify_envelope(self, envelope: Json, what: str, payload_type: str) -> bytes:
        """Checks that one signature of a DSSE envelope is by a trusted key over
        ``PAE(payloadType, payload)`` and returns the verified payload bytes."""
        if not isinstance(envelope, dict):
            raise IntegrityError(what, "not a DSSE envelope (not a JSON object)")
        found_type = envelope.get("payloadType")
        if found_type != payload_type:
            raise IntegrityError(
                what, f"the envelope's payloadType is {found_type!r}, expected {payload_type!r}"
            )
        payload = _b64(envelope.get("payload"), f"{what}: the envelope's payload")
        message = pae(payload_type, payload)
        signatures = envelope.get("signatures")
        if not isinstance(signatures, list):
            raise IntegrityError(what, "the envelope has no signatures list")
        named: list[str] = []
        failure: str | None = None
        for s in signatures:
            if not isinstance(s, dict):
                continue
            kid = str(s.get("keyid") or "")
            named.append(kid)
            candidates = list(self._keys.values()) if not kid else (
                [self._keys[kid]] if kid in self._keys else []
            )
            if not candidates:
                continue
            try:
                sig = _b64(s.get("sig"), "a signature")
            except IntegrityError:
                failure = failure or "a signature is not valid base64"
                continue
            for key in candidates:
                try:
                    key.verify(sig, message)
                    return payload
                except InvalidSignature:
                    failure = failure or (
                        f"the signature by key {kid or '(no key id)'} does not verify: "
                        "the payload was changed after signing"
                    )
        if failure:
            raise IntegrityError(what, failure)
        raise IntegrityError(
            what,
            f"no signature by a trusted key (signed by: {', '.join(named) or 'nobody'}; "
            f"trusted: {', '.join(self.key_ids()) or 'none'})",
        )


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d " % (len(t), t, len(payload)) + payload


def _b64(value: Json, what: str) -> bytes:
    if not isinstance(value, str):
        raise IntegrityError(what, "missing (expected standard base64)")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise IntegrityError(what, "is not valid standard base64") from e


def _label(version: Mapping[str, Json]) -> str:
    return f"{version.get('name')}@{version.get('version')}"


@dataclass(frozen=True)
class VerifiedVersion:
    """A version whose digest and signature were checked. ``raw`` is the answer as received."""

    name: str
    version: int
    digest: str
    raw: dict[str, Json]


def verify_version(
    version: Json,
    ring: KeyRing,
    project: str | None,
    *,
    expected_digest: str | None = None,
    require_signature: bool = True,
) -> VerifiedVersion:
    """Recomputes a version's digest and checks its signature: the digest must be the one the
    answer (and the announcing event, ``expected_digest``) names, and the signed statement's
    subject must be ``<project>/<name>@<version>`` with that digest."""
    if not isinstance(version, dict):
        raise IntegrityError("version", "not a JSON object")
    what = _label(version)
    name, number, claimed = version.get("name"), version.get("version"), version.get("digest")
    if not isinstance(name, str) or not isinstance(number, int) or not isinstance(claimed, str):
        raise IntegrityError(what, "a version needs a string name, integer version and digest")
    computed = content_digest(version)
    if computed != claimed:
        raise IntegrityError(
            what, f"digest mismatch: the content hashes to {computed}, the answer says {claimed}"
        )
    if expected_digest is not None and expected_digest != computed:
        raise IntegrityError(
            what, f"digest mismatch: the change announced {expected_digest}, received {computed}"
        )
    envelope = version.get("signature")
    if envelope is None:
        if require_signature:
            raise IntegrityError(what, "the version carries no signature")
    else:
        payload = ring.verify_envelope(envelope, f"{what} signature", IN_TOTO_PAYLOAD_TYPE)
        _check_statement(payload, what, project, name, number, computed)
    return VerifiedVersion(name=name, version=number, digest=computed, raw=version)


def _check_statement(
    payload: bytes, what: str, project: str | None, name: str, number: int, digest: str
) -> None:
    try:
        st = json.loads(payload)
    except ValueError as e:
        raise IntegrityError(what, f"the signed statement cannot be read: {e}") from e
    if not isinstance(st, dict):
        raise IntegrityError(what, "the signed statement is not an object")
    for field, expected in (("_type", STATEMENT_TYPE), ("predicateType", VERSION_PREDICATE)):
        if st.get(field) != expected:
            raise IntegrityError(
                what, f"the statement's {field} is {st.get(field)!r}, expected {expected!r}"
            )
    pred = st.get("predicate")
    subjects = st.get("subject")
    if not isinstance(pred, dict) or not isinstance(subjects, list) or len(subjects) != 1:
        raise IntegrityError(what, "the statement needs one subject and a predicate")
    signed_project = pred.get("project")
    if project is not None and signed_project != project:
        raise IntegrityError(
            what, f"signed for project {signed_project!r}, expected {project!r}"
        )
    if pred.get("name") != name or pred.get("version") != number:
        raise IntegrityError(
            what,
            f"the signature is for {pred.get('name')}@{pred.get('version')}, not {name}@{number}",
        )
    subject = subjects[0] if isinstance(subjects[0], dict) else {}
    expected_name = f"{signed_project}/{name}@{number}"
    if subject.get("name") != expected_name:
        raise IntegrityError(
            what, f"the statement's subject {subject.get('name')!r} is not {expected_name!r}"
        )
    digests = subject.get("digest")
    signed = "sha256:" + str(digests.get("sha256")) if isinstance(digests, dict) else None
    if signed != digest:
        raise IntegrityError(
            what, f"the signature covers digest {signed}, the content hashes to {digest}"
        )


@dataclass(frozen=True)
class VerifiedSnapshot:
    """An environment snapshot whose envelope verified; ``doc`` is the signed ``EnvSnapshot``.
    Its versions are checked one by one by the cache (a bad one must not hide the good ones)."""

    doc: dict[str, Json]
    ring: KeyRing

    @property
    def seq(self) -> int:
        return int(self.doc["seq"])


def open_snapshot(envelope: Json, ring: KeyRing | None, env: str) -> VerifiedSnapshot:
    """Verifies a signed environment snapshot. Without a ``ring`` (offline start with no
    configured keys), the snapshot's own keys are used: that detects corruption, not a forger.
    The keys the snapshot lists are trusted for its versions only as far as its own signature is
    trusted, i.e. after it verified."""
    what = "snapshot"
    if not isinstance(envelope, dict):
        raise IntegrityError(what, "not a DSSE envelope (not a JSON object)")
    if ring is None:
        payload = _b64(envelope.get("payload"), "snapshot: the envelope's payload")
        try:
            doc = json.loads(payload)
            ring = KeyRing.from_keys_json(doc)
        except (ValueError, AttributeError) as e:
            raise IntegrityError(what, f"the payload is not a snapshot: {e}") from e
    payload = ring.verify_envelope(envelope, what, ENV_SNAPSHOT_PAYLOAD_TYPE)
    try:
        doc = json.loads(payload)
    except ValueError as e:
        raise IntegrityError(what, f"the signed payload is not JSON: {e}") from e
    if not isinstance(doc, dict) or doc.get("format") != ENV_SNAPSHOT_FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else None
        raise IntegrityError(what, f"format {found!r}, expected {ENV_SNAPSHOT_FORMAT!r}")
    if doc.get("env") != env:
        raise IntegrityError(
            what, f"the snapshot is of environment {doc.get('env')!r}, not {env!r}"
        )
    if not isinstance(doc.get("seq"), int) or not isinstance(doc.get("prompts"), list):
        raise IntegrityError(what, "a snapshot needs an integer seq and a prompts list")
    own = KeyRing.from_keys_json(doc)
    return VerifiedSnapshot(doc=doc, ring=ring.merged(own))
