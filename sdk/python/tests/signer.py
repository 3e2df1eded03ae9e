"""A stand-in signer producing the server's formats (DSSE over RFC 8785 JSON, in-toto version
statements, signed environment snapshots), for tests that need bodies the server would never
send: another signer's, or tampered after signing."""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from promptreg.verify import (
    ENV_SNAPSHOT_FORMAT, ENV_SNAPSHOT_PAYLOAD_TYPE, IN_TOTO_PAYLOAD_TYPE, STATEMENT_TYPE,
    VERSION_PREDICATE, canonical_json, content_digest, key_id, pae,
)


class Signer:
    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public = base64.b64encode(self.raw).decode()
        self.keyid = key_id(self.raw)

    def envelope(self, payload_type: str, payload: bytes) -> dict[str, Any]:
        sig = self.key.sign(pae(payload_type, payload))
        return {"payload": base64.b64encode(payload).decode(), "payloadType": payload_type,
                "signatures": [{"keyid": self.keyid, "sig": base64.b64encode(sig).decode()}]}

    def version(self, name: str, number: int, template: str, project: str = "default",
                signed_digest: str | None = None) -> dict[str, Any]:
        v: dict[str, Any] = {"name": name, "version": number, "type": "text",
                             "template": template, "messages": None, "variables": None,
                             "model": None, "metadata": {}, "created_by": "t",
                             "created_at": "2026-11-30T00:00:00Z"}
        v["digest"] = content_digest(v)
        statement = {
            "_type": STATEMENT_TYPE,
            "subject": [{"name": f"{project}/{name}@{number}",
                         "digest": {"sha256": (signed_digest or v["digest"])[7:]}}],
            "predicateType": VERSION_PREDICATE,
            "predicate": {"project": project, "name": name, "version": number, "parent": None,
                          "author": "t", "commit_message": None,
                          "metadata_digest": "sha256:" + "0" * 64,
                          "created_at": "2026-11-30T00:00:00Z"},
        }
        v["signature"] = self.envelope(IN_TOTO_PAYLOAD_TYPE, canonical_json(statement))
        return v

    def snapshot(self, prompts: list[dict[str, Any]], seq: int = 10,
                 env: str = "production", project: str = "default") -> dict[str, Any]:
        doc = {"format": ENV_SNAPSHOT_FORMAT, "project": project, "env": env, "seq": seq,
               "taken_at": "2026-11-30T00:00:00Z",
               "keys": [{"key_id": self.keyid, "algorithm": "ed25519",
                         "public_key": self.public, "created_at": "2026-11-30T00:00:00Z",
                         "retired_at": None}],
               "prompts": [{"name": v["name"], "pointer_seq": 1, "live": v} for v in prompts]}
        return self.envelope(ENV_SNAPSHOT_PAYLOAD_TYPE, canonical_json(doc))
