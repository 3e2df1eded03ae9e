"""The synchronous client: a cache kept current by a background watcher thread.

``resolve`` never does I/O: it reads the cache. The watcher consumes ``GET /v1/watch``
(``Last-Event-ID`` resume, backoff, a read timeout of twice the heartbeat to detect a dead
stream), fetches and verifies the versions that changes announce, and reloads a snapshot on a
``resync`` frame. See :mod:`promptreg._base` for the shared rules.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from ._base import Base, Config, Resolution, Status, raise_for_api, server_unreachable
from .errors import IntegrityError, PromptregError, StartError
from .outcomes import OutcomeReporter
from .sse import Parser
from .verify import KeyRing

Json = Any


class Client(Base):
    """A prompt cache for one environment. Use as a context manager, or call :meth:`close`.

    >>> with Client("http://127.0.0.1:8700", token, env="production") as c:  # doctest: +SKIP
    ...     r = c.resolve("support/triage", subject="agent-7")
    ...     text = r.render({"customer": "Ada"})
    """

    def __init__(self, base_url: str | None = None, token: str | None = None, *,
                 start: bool = True, transport: httpx.BaseTransport | None = None,
                 **options: Any) -> None:
        super().__init__(Config(base_url=base_url, token=token, **options))
        self._transport = transport
        self._http = self._new_http()
        self._watcher: threading.Thread | None = None
        self._wake = threading.Event()
        self.outcomes: OutcomeReporter | None = None
        if start:
            self.start()

    def _new_http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.config.base_url or "http://offline.invalid",
            headers=self._headers(),
            timeout=self.config.request_timeout,
            transport=self._transport,
        )

    # --- start -------------------------------------------------------------------------------

    def start(self) -> None:
        """Loads the environment (server, else the snapshot file), then starts the watcher and
        the outcome reporter. Raises :class:`IntegrityError` for a snapshot that fails
        verification and :class:`StartError` when neither source is available."""
        unreachable: BaseException | None = None
        if self.config.base_url is not None:
            try:
                self._start_online()
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
            self.outcomes = OutcomeReporter(
                self._new_http(), self.config.outcome_capacity,
                self.config.outcome_batch_size, self.config.outcome_flush_interval,
            )
            self._watcher = threading.Thread(
                target=self._watch_loop, name="promptreg-watch", daemon=True
            )
            self._watcher.start()

    def _start_online(self) -> None:
        if self._ring is None:
            r = self._http.get("/v1/keys")
            raise_for_api(r)
            self._ring = KeyRing.from_keys_json(r.json())
        self._apply_snapshot(self._fetch_snapshot(), strict=True)

    def _fetch_snapshot(self) -> Json:
        env = quote(self.config.env, safe="")
        r = self._http.get(f"/v1/environments/{env}/snapshot", params=self._snapshot_params())
        raise_for_api(r)
        return r.json()

    # --- the watcher -------------------------------------------------------------------------

    def _watch_loop(self) -> None:
        attempt = 0
        http = self._new_http()
        while not self._closed:
            try:
                if self._watch_once(http):
                    attempt = 0
                    continue
            except (httpx.HTTPError, PromptregError, ValueError, KeyError) as e:
                if not self._closed:
                    self._note_failure("watch", e)
            self._connected = False
            if self._closed:
                break
            self._wake.wait(self._backoff(attempt))
            attempt += 1
        http.close()

    def _watch_once(self, http: httpx.Client) -> bool:
        """One connection. ``True``: reconnect at once (resync done, or a better read timeout
        learnt); otherwise returns by raising or when the stream ends."""
        timeout = self._read_timeout()
        headers = {"Last-Event-ID": str(self.state.seq), "Accept": "text/event-stream"}
        with http.stream(
            "GET", "/v1/watch", params=self._watch_params(), headers=headers,
            timeout=httpx.Timeout(self.config.request_timeout, read=timeout),
        ) as r:
            self._connections += 1
            if r.status_code >= 400:
                r.read()
                raise_for_api(r)
            parser = Parser()
            for line in r.iter_lines():
                if self._closed:
                    return False
                frame = parser.feed(line)
                if frame is None:
                    continue
                self._last_contact = time.monotonic()
                if frame.event in ("pointer_moved", "rollout_changed", "version_created"):
                    self._on_change(frame)
                elif frame.event == "ready":
                    self._ready(frame)
                    if self._read_timeout() < timeout - 0.5:
                        return True  # reconnect with the heartbeat the server announced
                    self._connected = True
                elif frame.event == "resync":
                    self._connected = False
                    self._apply_snapshot(self._fetch_snapshot(), strict=False)
                    return True
        return False

    def _on_change(self, frame: Any) -> None:
        seq, change = self._change(frame)
        fetch = self.state.wants(change)
        fetched = None
        if fetch is not None:
            r = self._http.get(
                f"/v1/prompts/{quote(fetch.name, safe='')}/versions/{fetch.version}"
            )
            raise_for_api(r)
            try:
                fetched = self.state.verify_fetched(r.json(), fetch)
            except IntegrityError as e:
                # Refused: the previous good value stays; the event is not retried.
                self._report(e)
                self.state.advance(seq)
                return
        self.state.apply(change, fetched, seq)

    def _refresh(self) -> None:
        try:
            self._apply_snapshot(self._fetch_snapshot(), strict=False)
        except (httpx.HTTPError, PromptregError, ValueError) as e:
            if isinstance(e, IntegrityError):
                self._report(e)
            else:
                self._note_failure("revalidate", e)
        finally:
            self._refreshing = False

    # --- the API -----------------------------------------------------------------------------

    def resolve(self, name: str, subject: str | None = None,
                track: str | None = None) -> Resolution:
        """The version of ``name`` this caller gets, from the cache (no I/O). With ``subject``
        during a rollout: its sticky arm, exactly as ``GET /v1/resolve?subject=`` answers."""
        res = self._resolution(name, subject, track)
        if res.stale and self._want_refresh():
            threading.Thread(target=self._refresh, name="promptreg-refresh", daemon=True).start()
        return res

    def render(self, name: str, variables: dict[str, Json] | None = None,
               subject: str | None = None) -> tuple[Resolution, str | list[dict[str, str]]]:
        """Resolves and renders locally."""
        res = self.resolve(name, subject)
        return res, res.render(variables)

    def report(self, resolution: Resolution, **fields: Any) -> bool:
        """Queues an outcome of a run of ``resolution`` (never blocks); ``False`` if dropped."""
        if self.outcomes is None:
            return False
        return self.outcomes.report(resolution.outcome(**fields))

    def flush(self, timeout: float = 5.0) -> bool:
        """Waits for queued outcomes to be sent."""
        return self.outcomes.flush(timeout) if self.outcomes else True

    def status(self) -> Status:
        """How current the cache is, errors, and the outcome counters."""
        return self._status(self.outcomes.stats if self.outcomes else None)

    def close(self, timeout: float = 5.0) -> None:
        """Flushes outcomes and stops the background threads."""
        if self._closed:
            return
        if self.outcomes is not None:
            self.outcomes.close(timeout)
        self._closed = True
        self._wake.set()
        if self._watcher is not None:
            # The watcher notices on its next frame or read timeout; it is a daemon thread.
            self._watcher.join(min(timeout, 0.2))
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
