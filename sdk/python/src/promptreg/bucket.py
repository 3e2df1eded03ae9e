"""Sticky rollout assignment, computed exactly as the server does
(``promptreg_core::rollout::bucket`` and ``Registry::resolve``).

The bucket is ``murmur3_x86_32("<rollout id>:<subject>", seed 0) % 10000``; a subject is on the
candidate iff its bucket is below the weight (in 1/10,000 of the fleet). The shared vectors in
``sdk/fixtures/bucket.json`` are checked by the Rust and the Python tests alike.
"""

from __future__ import annotations

BUCKETS = 10_000
_M = 0xFFFFFFFF


def murmur3_x86_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86_32 (Austin Appleby's reference algorithm)."""
    c1, c2 = 0xCC9E2D51, 0x1B873593
    h = seed & _M
    n = len(data)
    tail = n - n % 4
    for i in range(0, tail, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * c1) & _M
        k = ((k << 15) | (k >> 17)) & _M
        k = (k * c2) & _M
        h ^= k
        h = ((h << 13) | (h >> 19)) & _M
        h = (h * 5 + 0xE6546B64) & _M
    k = 0
    rest = n & 3
    if rest == 3:
        k ^= data[tail + 2] << 16
    if rest >= 2:
        k ^= data[tail + 1] << 8
    if rest >= 1:
        k ^= data[tail]
        k = (k * c1) & _M
        k = ((k << 15) | (k >> 17)) & _M
        k = (k * c2) & _M
        h ^= k
    h ^= n
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M
    h ^= h >> 16
    return h


def bucket(rollout_id: str, subject: str) -> int:
    """The bucket, in ``0..10000``, of ``subject`` in rollout ``rollout_id``."""
    return murmur3_x86_32(f"{rollout_id}:{subject}".encode(), 0) % BUCKETS


def is_candidate(bucket_: int, weight: int) -> bool:
    """Whether a subject in ``bucket_`` gets the candidate at ``weight``."""
    return bucket_ < weight
