"""The outcome reporter: delivered in batches, never blocking, dropped with a counter when the
server is gone or the queue is full; and the OpenTelemetry span attributes."""

from __future__ import annotations

import time
from typing import Any

from promptreg import Client, prompt_span

from .conftest import Server, wait_for


def _setup(server: Server) -> None:
    server.publish("agent/answer", "answer {{ q }}")
    server.deploy("agent/answer", 1)


def _samples(server: Server) -> int:
    figures = server.call("GET", "/v1/prompts/agent%2Fanswer/versions/1/outcomes?env=production")
    return int(figures["samples"])


def test_outcomes_are_delivered(server: Server) -> None:
    _setup(server)
    with Client(server.url, server.token, outcome_flush_interval=0.05) as c:
        r = c.resolve("agent/answer", subject="agent-1")
        for i in range(25):
            assert c.report(r, success=i % 5 != 0, latency_ms=12.5, cost=0.001)
        assert c.flush()
        st = c.status().outcomes
        assert (st.sent, st.rejected, st.dropped) == (25, 0, 0), st
    wait_for(lambda: _samples(server) == 25, timeout=10, interval=0.1)
    figures = server.call("GET", "/v1/prompts/agent%2Fanswer/versions/1/outcomes?env=production")
    assert figures["successes"] == 20 and figures["failures"] == 5


def test_a_rejected_event_is_counted_not_dropped(server: Server) -> None:
    _setup(server)
    with Client(server.url, server.token, outcome_flush_interval=0.05) as c:
        r = c.resolve("agent/answer")
        c.report(r, success=True, id="same-id")
        c.report(r, success=True, id="same-id")
        c.flush()
        st = c.status().outcomes
        assert (st.sent, st.rejected, st.dropped) == (1, 1, 0), st
        assert st.last_rejection["error"]["code"] == "duplicate_id"


def test_outcomes_are_dropped_with_a_counter_when_the_server_is_gone(server: Server) -> None:
    _setup(server)
    with Client(server.url, server.token, outcome_flush_interval=0.05,
                outcome_capacity=50) as c:
        r = c.resolve("agent/answer")
        server.kill()
        start = time.monotonic()
        accepted = sum(c.report(r, success=True) for _ in range(500))
        assert time.monotonic() - start < 0.5, "report() must never block"
        assert c.flush(timeout=10)
        st = c.status().outcomes
        assert st.sent == 0
        assert st.dropped == 500, st  # the queue's overflow plus every undeliverable batch
        assert accepted < 500 and st.last_error
        # Still resolving from the cache.
        assert c.resolve("agent/answer").version == 1


def test_otel_span_carries_the_prompt_attributes(server: Server) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    server.publish("agent/answer", "v1")
    server.publish("agent/answer", "v2")
    server.deploy("agent/answer", 1)
    server.canary("agent/answer", 2, 10_000)
    rollout = server.paused_rollout("agent/answer")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with Client(server.url, server.token) as c:
        wait_for(lambda: (o := c.rollout("agent/answer")) is not None
                 and o.revision == rollout["revision"])
        r = c.resolve("agent/answer", subject="s")
        with prompt_span(r, "llm.call", tracer=tracer) as span:
            assert span is not None
        plain = c.resolve("agent/answer")
        with prompt_span(plain, "plain", tracer=tracer):
            pass
    spans: Any = {s.name: dict(s.attributes) for s in exporter.get_finished_spans()}
    assert spans["llm.call"] == {
        "prompt.name": "agent/answer", "prompt.version": 2, "prompt.digest": r.digest,
        "prompt.rollout": rollout["id"], "prompt.arm": "candidate",
    }
    assert spans["plain"] == {
        "prompt.name": "agent/answer", "prompt.version": 1, "prompt.digest": plain.digest,
    }
