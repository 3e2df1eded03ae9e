"""promptreg: the Python SDK of the promptreg prompt registry.

- :class:`Client` (threads) and :class:`AsyncClient` (asyncio) serve ``resolve`` from an
  in-process cache that the server's change stream keeps current, verified end to end
  (:mod:`promptreg.verify`), with sticky rollout assignment computed as the server does
  (:mod:`promptreg.bucket`), local rendering (:mod:`promptreg.render`), outcome reporting
  (:mod:`promptreg.outcomes`) and an OpenTelemetry span helper (:mod:`promptreg.telemetry`).
"""

from ._base import Config, Resolution, Status
from .aio import AsyncClient
from .bucket import bucket, murmur3_x86_32
from .client import Client
from .errors import ApiError, IntegrityError, NotFound, PromptregError, RenderError, StartError
from .outcomes import OutcomeStats
from .render import render_template
from .state import Assignment
from .telemetry import prompt_span

__all__ = [
    "ApiError", "Assignment", "AsyncClient", "Client", "Config", "IntegrityError", "NotFound",
    "OutcomeStats", "PromptregError", "RenderError", "Resolution", "StartError", "Status",
    "bucket", "murmur3_x86_32", "prompt_span", "render_template",
]
__version__ = "0.1.0"
