"""The asyncio client: the same cache and rules as :class:`promptreg.Client`, with the watcher
and the outcome reporter as asyncio tasks.

``resolve`` is a plain (non-async) method: it reads the cache and never waits. Dead-stream
detection is exact here: each read waits at most twice the heartbeat the server announced.
"""

from __future__ import annotations

import asyncio
import time
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from ._base import Base, Config, Resolution, Status, raise_for_api, server_unreachable
from .errors import IntegrityError, PromptregError, StartError
from .outcomes import AsyncOutcomeReporter
from .sse import Frame, Parser
from .verify import KeyRing

Json = Any


class AsyncClient(Base):
    """``async with AsyncClient(url, token, env=...) as c: c.resolve(...)``; or
    ``c = AsyncClient(...); await c.start()`` and ``await c.close()``."""

    def __init__(self, base_url: str | None = None, token: str | None = None, *,
                 transport: httpx.AsyncBaseTransport | None = None, **options: Any) -> None:
        super().__init__(Config(base_url=base_url, token=token, **options))
        self._transport = transport
        self._http = self._new_http()
        self._tasks: set[asyncio.Task[None]] = set()
        self._watcher: asyncio.Task[None] | None = None
        self.outcomes: AsyncOutcomeReporter | None = None

    def _new_http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.config.base_url or "http://offline.invalid",
            headers=self._headers(),
            timeout=self.config.request_timeout,
            transport=self._transport,
        )

    async def start(self) -> None:
        """As :meth:`promptreg.Client.start`."""
        unreachable: BaseException | None = None
        if self.config.base_url is not None:
            try:
                await self._start_online()
                self.source = "server"
            except PromptregError as e:
                if not server_unreachable(e):
                    raise
                unreachable = e
            except httpx.TransportError as e:
                unreachable = e
        if self.source == "none":
            if self.config.snapshot_path is None:
                raise StartError(
                    f"no server answered at {self.config.base_url} ({unreachable!r}) "
                    "and no snapshot_path is configured"
                )
            self._load_file()
            self.source = "snapshot_file"
            if unreachable is not None:
                self._note_failure("start", unreachable)
        if self.config.base_url is not None:
            self.outcomes = AsyncOutcomeReporter(
                self._new_http(), self.config.outcome_capacity,
                self.config.outcome_batch_size, self.config.outcome_flush_interval,
            )
            self._watcher = asyncio.get_running_loop().create_task(self._watch_loop())

    async def _start_online(self) -> None:
        if self._ring is None:
            r = await self._http.get("/v1/keys")
            raise_for_api(r)
            self._ring = KeyRing.from_keys_json(r.json())
        self._apply_snapshot(await self._fetch_snapshot(), strict=True)

    async def _fetch_snapshot(self) -> Json:
        env = quote(self.config.env, safe="")
        r = await self._http.get(
            f"/v1/environments/{env}/snapshot", params=self._snapshot_params()
        )
        raise_for_api(r)
        return r.json()

    async def _watch_loop(self) -> None:
        attempt = 0
        async with self._new_http() as http:
            while not self._closed:
                try:
                    await self._watch_once(http)
                    attempt = 0
                    continue
                except (httpx.HTTPError, PromptregError, ValueError, KeyError,
                        asyncio.TimeoutError) as e:
                    self._note_failure("watch", e)
                self._connected = False
                await asyncio.sleep(self._backoff(attempt))
                attempt += 1

    async def _watch_once(self, http: httpx.AsyncClient) -> None:
        headers = {"Last-Event-ID": str(self.state.seq), "Accept": "text/event-stream"}
        async with http.stream(
            "GET", "/v1/watch", params=self._watch_params(), headers=headers,
            timeout=httpx.Timeout(self.config.request_timeout, read=None),
        ) as r:
            self._connections += 1
            if r.status_code >= 400:
                await r.aread()
                raise_for_api(r)
            parser = Parser()
            lines = r.aiter_lines().__aiter__()
            while True:
                # Silence longer than twice the heartbeat: the stream is dead.
                line = await asyncio.wait_for(lines.__anext__(), self._read_timeout())
                frame = parser.feed(line)
                if frame is None:
                    continue
                self._last_contact = time.monotonic()
                if frame.event in ("pointer_moved", "rollout_changed", "version_created"):
                    await self._on_change(frame)
                elif frame.event == "ready":
                    self._ready(frame)
                    self._connected = True
                elif frame.event == "resync":
                    self._connected = False
                    self._apply_snapshot(await self._fetch_snapshot(), strict=False)
                    return

    async def _on_change(self, frame: Frame) -> None:
        seq, change = self._change(frame)
        fetch = self.state.wants(change)
        fetched = None
        if fetch is not None:
            r = await self._http.get(
                f"/v1/prompts/{quote(fetch.name, safe='')}/versions/{fetch.version}"
            )
            raise_for_api(r)
            try:
                fetched = self.state.verify_fetched(r.json(), fetch)
            except IntegrityError as e:
                self._report(e)
                self.state.advance(seq)
                return
        self.state.apply(change, fetched, seq)

    async def _refresh(self) -> None:
        try:
            self._apply_snapshot(await self._fetch_snapshot(), strict=False)
        except (httpx.HTTPError, PromptregError, ValueError) as e:
            if isinstance(e, IntegrityError):
                self._report(e)
            else:
                self._note_failure("revalidate", e)
        finally:
            self._refreshing = False

    def resolve(self, name: str, subject: str | None = None,
                track: str | None = None) -> Resolution:
        """As :meth:`promptreg.Client.resolve` (no I/O, no await)."""
        res = self._resolution(name, subject, track)
        if res.stale and self._want_refresh():
            task = asyncio.get_running_loop().create_task(self._refresh())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return res

    def render(self, name: str, variables: dict[str, Json] | None = None,
               subject: str | None = None) -> tuple[Resolution, str | list[dict[str, str]]]:
        """Resolves and renders locally."""
        res = self.resolve(name, subject)
        return res, res.render(variables)

    def report(self, resolution: Resolution, **fields: Any) -> bool:
        """Queues an outcome (never waits); ``False`` if dropped."""
        if self.outcomes is None:
            return False
        return self.outcomes.report(resolution.outcome(**fields))

    async def flush(self, timeout: float = 5.0) -> bool:
        """Waits for queued outcomes to be sent."""
        return await self.outcomes.flush(timeout) if self.outcomes else True

    def status(self) -> Status:
        """How current the cache is, errors, and the outcome counters."""
        return self._status(self.outcomes.stats if self.outcomes else None)

    async def close(self, timeout: float = 5.0) -> None:
        """Flushes outcomes and stops the tasks."""
        if self._closed:
            return
        if self.outcomes is not None:
            await self.outcomes.close(timeout)
        self._closed = True
        for task in [self._watcher, *self._tasks]:
            if task is not None:
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                    pass
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        if self.source == "none":
            await self.start()
        return self

    async def __aexit__(self, t: type[BaseException] | None, v: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
