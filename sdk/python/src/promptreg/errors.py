"""The errors the SDK raises and reports."""

from __future__ import annotations


class PromptregError(Exception):
    """Base class of every error this package raises."""


class IntegrityError(PromptregError):
    """Something received (a snapshot, a version) failed verification and was refused.

    ``what`` names the thing (``snapshot``, ``support/triage@3``) and ``reason`` says precisely
    what is wrong with it.
    """

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"{what}: {reason}")
        self.what = what
        self.reason = reason


class StartError(PromptregError):
    """The client could not start: no server answered and no usable snapshot file was given."""


class NotFound(PromptregError):
    """The prompt is not live in the client's environment (or outside its prefix)."""


class ApiError(PromptregError):
    """The server answered with its error envelope ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class RenderError(PromptregError):
    """A render failed. ``kind`` is ``undefined``, ``template``, ``variables`` or ``unsupported``;
    ``field`` is where (``template``, ``messages[1].content``, ``variables.history``)."""

    def __init__(self, kind: str, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.kind = kind
        self.field = field
        self.message = message
