"""Local rendering with Jinja2's sandbox, matching the server's minijinja renderer
(``promptreg_core::render``) on the shared fixture set ``sdk/fixtures/render.json``.

What is matched, and how:

- undefined values are *semi-strict* as on the server: printing, iterating or reading an
  attribute of an undefined variable is an error naming it, while ``{% if x %}``, ``x is
  defined`` and ``x | default(..)`` accept it;
- values print as minijinja prints them (``True``/``False``/``None``, lists and maps with
  double-quoted strings), through Jinja2's ``finalize`` hook; ``round`` rounds half away from
  zero and ``escape`` escapes as minijinja does (``&quot;``, ``&#x27;``, ``&#x2f;``);
- whitespace: no ``trim_blocks``/``lstrip_blocks``, one trailing newline dropped, as both engines
  do by default;
- only the filters both engines share are available (plus ``split``, ``lines`` and ``bool``,
  written here to minijinja's definition); a filter the server lacks (``tojson``, ``wordwrap``,
  ``truncate``...) fails locally as it fails on the server.

Known differences (documented in the README): render limits (fuel, output size) are the
server's own and are not reproduced; ``~`` and the ``string`` filter format values the Python
way; error messages differ (the error *kind* and field are the same).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from jinja2 import (
    StrictUndefined, TemplateError, TemplateRuntimeError, TemplateSyntaxError, UndefinedError,
)
from jinja2.sandbox import SandboxedEnvironment

from .errors import RenderError

Json = Any

# Filters Jinja2 and minijinja share (same names, same meaning for the cases in the fixtures).
_SHARED_FILTERS = {
    "abs", "attr", "batch", "capitalize", "count", "d", "default", "dictsort", "e", "escape",
    "first", "float", "format", "groupby", "indent", "int", "items", "join", "last", "length",
    "list", "lower", "map", "max", "min", "reject", "rejectattr", "replace", "reverse", "round",
    "safe", "select", "selectattr", "slice", "sort", "sum", "title", "trim", "unique",
    "upper",
}


class SemiStrictUndefined(StrictUndefined):
    """minijinja's ``SemiStrict``: an error when printed, iterated or looked into; false in a
    test."""

    def __bool__(self) -> bool:  # type: ignore[override]
        return False



def format_value(value: Any) -> str:
    """A value as minijinja prints it with ``{{ }}``."""
    if isinstance(value, str):
        return value
    return _repr(value)


def _repr(value: Any) -> str:
    if value is None:
        return "None"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e16:
            return f"{int(value)}.0"
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_repr(k)}: {_repr(v)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_repr(v) for v in value) + "]"
    return str(value)


def _finalize(value: Any) -> Any:
    if isinstance(value, str):
        return value
    return format_value(value)


def _split(value: str, sep: str | None = None, maxsplit: int | None = None) -> list[str]:
    if sep is None:
        parts = value.split(None, -1 if maxsplit is None else maxsplit)
        return parts
    return value.split(sep, -1 if maxsplit is None else maxsplit)


def _lines(value: str) -> list[str]:
    return value.splitlines()


def _round(value: float, precision: int = 0) -> float:
    """minijinja's ``round``: half away from zero (Python's ``round`` is half to even)."""
    scale = 10.0**precision
    return math.copysign(math.floor(abs(float(value)) * scale + 0.5) / scale, float(value))


_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;", "/": "&#x2f;"}


def _escape(value: Any) -> str:
    """minijinja's HTML escaping (it also escapes ``/``, and spells quotes differently)."""
    text = value if isinstance(value, str) else format_value(value)
    return "".join(_ESCAPES.get(c, c) for c in text)


def _bool(value: Any) -> bool:
    return bool(value)


def _sorted_maps(value: Json) -> Json:
    """serde_json maps (without ``preserve_order``) iterate in key order on the server."""
    if isinstance(value, dict):
        return {k: _sorted_maps(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_maps(v) for v in value]
    return value


class _Sandbox(SandboxedEnvironment):
    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        # minijinja: calling an unknown name is an "unknown function" error, not an undefined.
        if isinstance(__obj, StrictUndefined):
            raise TemplateRuntimeError(f"unknown function: {__obj._undefined_name} is unknown")
        return super().call(__context, __obj, *args, **kwargs)


def environment() -> SandboxedEnvironment:
    """The sandboxed environment renders run in."""
    env = _Sandbox(
        undefined=SemiStrictUndefined,
        finalize=_finalize,
        autoescape=False,
        keep_trailing_newline=False,
    )
    filters: dict[str, Callable[..., Any]] = {
        k: v for k, v in env.filters.items() if k in _SHARED_FILTERS
    }
    filters.update({
        "split": _split, "lines": _lines, "bool": _bool, "string": format_value,
        "round": _round, "escape": _escape, "e": _escape,
    })
    env.filters = filters
    env.globals = {"range": range, "dict": dict}
    return env


_ENV = environment()


def render_template(source: str, variables: Mapping[str, Json], field: str = "template") -> str:
    """Renders one template; errors carry the kind and field the server reports."""
    try:
        template = _ENV.from_string(source)
    except TemplateSyntaxError as e:
        raise RenderError("template", field, f"syntax error: {e.message} (line {e.lineno})") from e
    try:
        return template.render(_sorted_maps(dict(variables)))
    except UndefinedError as e:
        raise RenderError("undefined", field, f"undefined value: {e.message}") from e
    except TemplateError as e:
        raise RenderError("template", field, str(e)) from e
    except (TypeError, ValueError, ArithmeticError, AttributeError, KeyError, IndexError) as e:
        raise RenderError("template", field, f"{type(e).__name__}: {e}") from e


def render_content(version: Mapping[str, Json], variables: Mapping[str, Json]) -> str | list[dict[str, str]]:
    """Renders a version (``VersionView`` shape): the text of a text prompt, or the messages of a
    chat prompt with placeholders replaced by the injected ``{"role", "content"}`` lists."""
    if not isinstance(variables, Mapping):
        raise RenderError("variables", "variables", "must be an object")
    _validate(version.get("variables"), variables)
    if version.get("type") == "text":
        return render_template(str(version.get("template") or ""), variables)
    out: list[dict[str, str]] = []
    for i, entry in enumerate(version.get("messages") or []):
        if entry.get("type") == "placeholder":
            out.extend(_injected(str(entry.get("name")), variables))
        else:
            content = render_template(str(entry.get("content")), variables, f"messages[{i}].content")
            out.append({"role": str(entry.get("role")), "content": content})
    return out


def _injected(name: str, variables: Mapping[str, Json]) -> Iterator[dict[str, str]]:
    field = f"variables.{name}"
    if name not in variables:
        raise RenderError(
            "variables", field, f'placeholder "{name}" needs a list of messages (use [] for none)'
        )
    value = variables[name]
    if not isinstance(value, list) or not all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
        for m in value
    ):
        raise RenderError("variables", field, 'must be a list of {"role", "content"} messages')
    for m in value:
        yield {"role": m["role"], "content": m["content"]}


def _validate(schema: Json, variables: Mapping[str, Json]) -> None:
    """Checks variables against the version's JSON Schema when ``jsonschema`` is installed (the
    ``[schema]`` extra); without it the server's check is not repeated locally."""
    if schema is None:
        return
    try:
        import jsonschema  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(dict(variables)), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        field = ".".join(["variables", *(str(p) for p in first.path)])
        raise RenderError("variables", field, first.message)
