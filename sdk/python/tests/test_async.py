"""The asyncio client behaves as the sync one: verified start, following changes, sticky
assignment, stale serving, offline start, outcomes."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from promptreg import AsyncClient, IntegrityError

from .conftest import Server


async def until(check: Callable[[], bool], timeout: float = 5.0) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.001)
    return time.monotonic() - start


def _setup(server: Server, name: str) -> None:
    for i in range(1, 6):
        server.publish(name, f"v{i} {{{{ who }}}}")
        server.deploy(name, i)


def test_async_client_follows_rollbacks(server: Server) -> None:
    name = "async/agent"
    _setup(server, name)

    async def main() -> list[float]:
        async with AsyncClient(server.url, server.token) as c:
            assert c.resolve(name).render({"who": "x"}) == "v5 x"
            await until(lambda: c.status().connected)
            delays = []
            for expected in (4, 3, 2):
                await asyncio.to_thread(server.rollback, name)
                delays.append(await until(lambda: c.resolve(name).version == expected))
            return delays

    delays = asyncio.run(main())
    print(f"async rollback propagation: {[round(d * 1000, 1) for d in delays]} ms")
    assert statistics.median(delays) < 0.1, delays


def test_async_sticky_assignment_equals_the_server(server: Server) -> None:
    name = "async/canary"
    _setup(server, name)
    server.publish(name, "candidate")
    server.deploy(name, 5)
    server.canary(name, 6, 5000)
    rollout = server.paused_rollout(name)

    async def main() -> None:
        async with AsyncClient(server.url, server.token) as c:
            await until(lambda: (o := c.rollout(name)) is not None
                        and o.revision == rollout["revision"])
            for i in range(200):
                mine = c.resolve(name, subject=f"s{i}")
                theirs = await asyncio.to_thread(server.resolve, name, f"s{i}")
                assert mine.version == theirs["version"]
                assert mine.assignment is not None
                assert mine.assignment.arm == theirs["assignment"]["arm"]
                assert mine.assignment.bucket == theirs["assignment"]["bucket"]

    asyncio.run(main())


def test_async_stale_on_error_offline_start_and_outcomes(server: Server, tmp_path: Path) -> None:
    name = "async/agent"
    _setup(server, name)
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(server.snapshot()))

    async def main() -> None:
        async with AsyncClient(server.url, server.token, ttl=0.2, backoff_max=0.2,
                               outcome_flush_interval=0.05) as c:
            r = c.resolve(name, subject="a")
            for _ in range(3):
                assert c.report(r, success=True)
            assert await c.flush()
            assert c.status().outcomes.sent == 3
            await until(lambda: c.status().connected)
            await asyncio.to_thread(server.kill)
            await until(lambda: not c.status().connected)
            await asyncio.sleep(0.3)
            r = c.resolve(name)
            assert r.version == 5 and r.stale
            for _ in range(4):
                c.report(r, success=True)
            assert await c.flush(timeout=10)
            assert c.status().outcomes.dropped == 4
        async with AsyncClient(server.url, server.token, snapshot_path=path) as c:
            assert c.status().source == "snapshot_file"
            assert c.resolve(name).version == 5
        path.write_text(path.read_text().replace('"payload": "', '"payload": "AAAA'))
        with pytest.raises(IntegrityError, match="snapshot file"):
            async with AsyncClient(server.url, server.token, snapshot_path=path):
                pass

    asyncio.run(main())
