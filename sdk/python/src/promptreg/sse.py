"""A Server-Sent Events parser over lines (the WHATWG event-stream rules the server's frames
need: ``id``, ``event``, multi-line ``data``, comments). Comments are surfaced as frames of
event ``comment``: the server's heartbeats are comments, and a client counts them as signs of
life."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Frame:
    """One dispatched event (or a comment)."""

    event: str = "message"
    data: str = ""
    id: str | None = None


@dataclass
class Parser:
    """Feed lines (without their line ending); get frames back."""

    _event: str = ""
    _data: list[str] = field(default_factory=list)
    _id: str | None = None

    def feed(self, line: str) -> Frame | None:
        """One line; returns a frame when the line completes one."""
        if line == "":
            if not self._data and not self._event and self._id is None:
                return None
            frame = Frame(self._event or "message", "\n".join(self._data), self._id)
            self._event, self._data, self._id = "", [], None
            return frame
        if line.startswith(":"):
            return Frame("comment", line[1:].strip())
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        return None
