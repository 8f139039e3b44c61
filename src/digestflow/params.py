"""Typed parameters: one mechanism for settings and every stage's tunables.

A parameter class is a frozen dataclass whose fields are made with :func:`param`: the default, the
environment variable that may set it, the CLI flag that may override it (if any) and a help text. Values
are read from the environment **once, at the boundary** (the CLI, a job entry point, a test) by
:func:`load`, and then travel as objects: the run context hands each stage its own parameter object.
Nothing writes ``os.environ`` to pass a value on.

Durations (trend windows, baselines) have one syntax and one parser, :func:`parse_days`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")

_DURATION = re.compile(r"^\s*(\d+)\s*([dw])\s*$")


def parse_days(text: str) -> int:
    """``'7d'`` → 7, ``'26w'`` → 182 (windows, baselines, term windows)."""
    match = _DURATION.match(str(text).lower())
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"expected a duration like '7d' or '26w', got {text!r}")
    return int(match.group(1)) * (7 if match.group(2) == "w" else 1)


def parse_days_list(text: str | Iterable[str]) -> tuple[int, ...]:
    """``'7d,28d'`` (or several such strings) → ``(7, 28)``, sorted and de-duplicated."""
    items = [text] if isinstance(text, str) else list(text)
    days = {parse_days(w) for item in items for w in str(item).split(",") if w.strip()}
    if not days:
        raise ValueError("expected at least one duration like '7d'")
    return tuple(sorted(days))


def parse_bool(text: str) -> bool:
    value = str(text).strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected a yes/no value (1/0, true/false), got {text!r}")


def parse_optional_int(text: str) -> int | None:
    return int(text) if str(text).strip() else None


def param(
    default: Any,
    *,
    env: str | None = None,
    flag: str | None = None,
    help: str = "",
    parse: Callable[[str], Any] | None = None,
    multiple: bool = False,
    show: Callable[[Any], str] | None = None,
) -> Any:
    """A dataclass field with the metadata :func:`load` and the CLI use.

    ``parse`` turns the environment's (or a flag's) text into the field's value; by default the
    default's own type is called on it (``int('8')``). ``multiple``: the flag may repeat, its values are
    joined with commas before ``parse``. ``show`` renders a value back in the env/flag syntax."""
    meta = {"env": env, "flag": flag, "help": help, "parse": parse, "multiple": multiple, "show": show}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class ParamInfo:
    name: str
    default: Any
    env: str | None
    flag: str | None
    help: str
    parse: Callable[[str], Any]
    multiple: bool
    show: Callable[[Any], str]


def infos(cls: type) -> list[ParamInfo]:
    """The parameters of a parameter class, in field order."""
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        parse = meta.get("parse") or _default_parser(default)
        out.append(ParamInfo(
            f.name, default, meta.get("env"), meta.get("flag"), meta.get("help", ""), parse,
            bool(meta.get("multiple")), meta.get("show") or str,
        ))
    return out


def _default_parser(default: Any) -> Callable[[str], Any]:
    if isinstance(default, bool):
        return parse_bool
    if default is None:
        return str
    return type(default)


class ParamError(ValueError):
    """A parameter's text did not parse; the message names the variable or flag."""


def load(cls: type[T], environ: Mapping[str, str] | None = None, **overrides: Any) -> T:
    """An instance of ``cls``: defaults, then the environment variables of ``environ``, then the non-None
    ``overrides`` (already typed values, or text for a field whose flag gave text)."""
    values: dict[str, Any] = {}
    for info in infos(cls):
        raw = environ.get(info.env) if (environ is not None and info.env) else None
        if raw not in (None, ""):
            try:
                values[info.name] = info.parse(raw)
            except ValueError as exc:
                raise ParamError(f"${info.env}: {exc}") from exc
        override = overrides.get(info.name)
        if override is not None and override != ():
            if isinstance(override, (str, tuple, list)) and info.parse is not str:
                text = ",".join(override) if isinstance(override, (tuple, list)) else override
                try:
                    override = info.parse(text)
                except ValueError as exc:
                    raise ParamError(f"{info.flag or info.name}: {exc}") from exc
            values[info.name] = override
    unknown = set(overrides) - {i.name for i in infos(cls)}
    if unknown:
        raise TypeError(f"{cls.__name__} has no parameter(s) {sorted(unknown)}")
    try:
        return dataclasses.replace(cls(), **values)  # type: ignore[call-arg]
    except ValueError as exc:
        raise ParamError(str(exc)) from exc


def describe(obj: Any) -> list[tuple[str, str, str | None]]:
    """``(name, value as text, env var)`` for every parameter of ``obj``."""
    return [(i.name, _show(i, getattr(obj, i.name)), i.env) for i in infos(type(obj))]


def _show(info: ParamInfo, value: Any) -> str:
    return "" if value is None else info.show(value)


def show_days(days: int | Iterable[int]) -> str:
    if isinstance(days, int):
        return f"{days}d"
    return ",".join(f"{d}d" for d in days)
