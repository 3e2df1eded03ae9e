"""OpenTelemetry: a span carrying which prompt version (and rollout arm) a piece of work used.

``opentelemetry-api`` is an optional dependency (the ``[otel]`` extra); without it the helper is
a no-op context manager, so agent code can use it unconditionally.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._base import Resolution


def attributes(resolution: Resolution) -> dict[str, str | int]:
    """``prompt.name``, ``prompt.version``, ``prompt.digest`` and, during a rollout,
    ``prompt.rollout`` and ``prompt.arm``."""
    attrs: dict[str, str | int] = {
        "prompt.name": resolution.name,
        "prompt.version": resolution.version,
        "prompt.digest": resolution.digest,
    }
    if resolution.assignment is not None:
        attrs["prompt.rollout"] = resolution.assignment.rollout
        attrs["prompt.arm"] = resolution.assignment.arm
    return attrs


@contextmanager
def prompt_span(
    resolution: Resolution, name: str = "prompt", tracer: Any = None
) -> Iterator[Any]:
    """Starts a span named ``name`` (as current) with the prompt attributes; yields the span,
    or ``None`` when OpenTelemetry is not installed."""
    try:
        from opentelemetry import trace
    except ImportError:
        yield None
        return
    t = tracer if tracer is not None else trace.get_tracer("promptreg")
    with t.start_as_current_span(name, attributes=attributes(resolution)) as span:
        yield span
