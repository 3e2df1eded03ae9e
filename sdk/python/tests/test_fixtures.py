"""The shared fixtures (sdk/fixtures/*.json) that the Rust tests check against promptreg-core:
the Python SDK must compute the same buckets, digests and renders."""

from __future__ import annotations

import json
from typing import Any

import pytest

from promptreg.bucket import bucket, murmur3_x86_32
from promptreg.errors import RenderError
from promptreg.render import render_content
from promptreg.verify import content_digest

from .conftest import FIXTURES


def _load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_murmur3_vectors() -> None:
    doc = _load("bucket.json")
    assert len(doc["murmur3"]) >= 5
    for case in doc["murmur3"]:
        assert murmur3_x86_32(case["input"].encode(), case["seed"]) == case["hash"], case


def test_bucket_vectors() -> None:
    doc = _load("bucket.json")
    assert len(doc["buckets"]) >= 100
    for case in doc["buckets"]:
        assert bucket(case["rollout"], case["subject"]) == case["bucket"], case


def test_digest_vectors() -> None:
    for case in _load("digest.json")["cases"]:
        c = case["content"]
        assert content_digest(c) == case["digest"], case["name"]


RENDER_CASES = _load("render.json")["cases"]


@pytest.mark.parametrize("case", RENDER_CASES, ids=[c["name"] for c in RENDER_CASES])
def test_render_case(case: dict[str, Any]) -> None:
    if "messages" in case:
        version: dict[str, Any] = {"type": "chat", "messages": case["messages"]}
    else:
        version = {"type": "text", "template": case["template"]}
    if "schema" in case:
        version["variables"] = case["schema"]
    expect = case["expect"]
    try:
        out = render_content(version, case["variables"])
    except RenderError as e:
        assert expect.get("error") == e.kind, f"{case['name']}: {e}"
        return
    assert "error" not in expect, f"{case['name']}: rendered {out!r}, expected {expect}"
    if "messages" in expect:
        assert out == expect["messages"]
    else:
        assert out == expect["output"]
