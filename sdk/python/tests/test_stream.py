"""The change stream's failure modes: a stream gone silent (no heartbeat) is detected and
reconnected, and a ``resync`` frame reloads a snapshot before watching again."""

from __future__ import annotations

import socket
import threading
import time


import httpx

from promptreg import Client

from .conftest import HEARTBEAT_MS, Server, wait_for


class FreezingProxy:
    """A TCP proxy to the server; ``freeze()`` stops forwarding on the open change-stream
    connections without closing them (a stream gone silent, as behind a dead NAT or proxy)."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.frozen: list[threading.Event] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            first = client.recv(65536)
            upstream.sendall(first)
            stop = threading.Event()
            if b"/v1/watch" in first.split(b"\r\n", 1)[0]:
                self.frozen.append(stop)  # only change streams freeze
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b, stop), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, stop: threading.Event) -> None:
        try:
            while data := src.recv(65536):
                if stop.is_set():
                    time.sleep(3600)  # hold the bytes: silence, not a close (a daemon thread)
                dst.sendall(data)
        except OSError:
            pass

    def freeze(self) -> None:
        for stop in self.frozen:
            stop.set()


def test_a_silent_stream_is_detected_and_reconnected(server: Server) -> None:
    server.publish("p", "v1")
    server.publish("p", "v2")
    server.deploy("p", 1)
    proxy = FreezingProxy(server.port)
    with Client(proxy.url, server.token, backoff_max=0.1) as c:
        wait_for(lambda: c.status().connected)
        opened = c.status().connections
        proxy.freeze()
        # Twice the heartbeat announced in `ready`, plus a little.
        took = wait_for(lambda: c.status().connections > opened and c.status().connected,
                        timeout=10 * HEARTBEAT_MS / 1000)
        assert took >= HEARTBEAT_MS / 1000, took
        server.deploy("p", 2)
        wait_for(lambda: c.resolve("p").version == 2)


class ResyncOnce(httpx.HTTPTransport):
    """Answers the first watch with a ``resync`` frame; counts snapshot requests."""

    def __init__(self) -> None:
        super().__init__()
        self.snapshots = 0
        self.resynced = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/snapshot"):
            self.snapshots += 1
        if path == "/v1/watch" and not self.resynced:
            self.resynced = True
            frame = b'id: 1\nevent: resync\ndata: {"reason":"lagged","seq":1}\n\n'
            return httpx.Response(200, headers={"content-type": "text/event-stream"},
                                  content=frame)
        return super().handle_request(request)


def test_a_resync_frame_reloads_a_snapshot(server: Server) -> None:
    server.publish("p", "v1")
    server.deploy("p", 1)
    transport = ResyncOnce()
    with Client(server.url, server.token, transport=transport) as c:
        wait_for(lambda: transport.resynced and transport.snapshots == 2)
        wait_for(lambda: c.status().connected)
        server.publish("p", "v2")
        server.deploy("p", 2)
        wait_for(lambda: c.resolve("p").version == 2)




def test_the_async_client_detects_a_silent_stream_too(server: Server) -> None:
    import asyncio

    from promptreg import AsyncClient

    server.publish("p", "v1")
    server.deploy("p", 1)
    proxy = FreezingProxy(server.port)

    async def main() -> None:
        async with AsyncClient(proxy.url, server.token, backoff_max=0.1) as c:
            while not c.status().connected:
                await asyncio.sleep(0.01)
            opened = c.status().connections
            proxy.freeze()
            deadline = asyncio.get_running_loop().time() + 10 * HEARTBEAT_MS / 1000
            while not (c.status().connections > opened and c.status().connected):
                assert asyncio.get_running_loop().time() < deadline, "not reconnected"
                await asyncio.sleep(0.01)
            await asyncio.to_thread(server.publish, "p", "v2")
            await asyncio.to_thread(server.deploy, "p", 2)
            while c.resolve("p").version != 2:
                assert asyncio.get_running_loop().time() < deadline + 5, "change not received"
                await asyncio.sleep(0.01)

    asyncio.run(main())
