"""How an option's text becomes its value: the conversion of its kind, the parsers of
structured values (lines, URLs, weights, fractions, lists of names) and the checks (ranges,
URLs). Each raises a :class:`~pytest_lrmsafety.errors.ConfigError` that begins with where the
value came from (``option --lrm-timeout``, ``ini lrm_timeout`` ...).

Imported with the option table when pytest loads the plugin: nothing here imports more than
the standard library until a value is checked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

TARGET_NAMES = ("answer", "thinking")
EFFORTS = ("minimal", "low", "medium", "high")

KIND_WORDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "string": "a string",
    "linelist": "a list of lines",
}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")

Parser = Callable[[Any, str], Any]
"""``(value, where) -> value``: turns a converted value into the setting's value."""


def convert(kind: str, choices: Sequence[str], raw: Any, where: str) -> Any:
    """The text of a command line, environment variable or ini line as its kind says
    (``int``, ``float``, ``bool``), checked against ``choices``; ``None`` stays ``None``."""
    if raw is None:
        return None
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected {KIND_WORDS[kind]}, got {raw!r}") from None
    if kind == "bool" and isinstance(raw, str):
        lowered = raw.strip().lower()
        if lowered not in _TRUE + _FALSE:
            raise ConfigError(f"{where}: expected true or false, got {raw!r}")
        return lowered in _TRUE
    if choices and raw not in choices:
        raise ConfigError(f"{where}: {raw!r} is not one of {', '.join(choices)}")
    return raw


@dataclass(frozen=True)
class Range:
    """A check: a set value must satisfy ``ok``, else ``must be {what}, got {value!r}``."""

    ok: Callable[[Any], bool]
    what: str

    def __call__(self, value: Any, where: str) -> None:
        if value is not None and not self.ok(value):
            raise ConfigError(f"{where}: must be {self.what}, got {value!r}")


POSITIVE = Range(lambda v: 0 < v < math.inf, "a positive number")
AT_LEAST_0 = Range(lambda v: v >= 0, "0 or more")
AT_LEAST_1 = Range(lambda v: v >= 1, "1 or more")


def as_lines(value: Any) -> list[str]:
    """Lines of an ini value or environment variable, or the items of a repeated option."""
    if value is None:
        return []
    if isinstance(value, str):
        return [line.strip() for line in value.splitlines() if line.strip()]
    return [str(v).strip() for v in value if str(v).strip()]


def lines(value: Any, where: str) -> tuple[str, ...]:
    """A list of lines (or the values of a repeated option), blank ones left out."""
    return tuple(as_lines(value))


def urls(value: Any, where: str) -> tuple[str, ...]:
    """URLs from repeated options, ini lines or a comma-separated environment variable."""
    return tuple(u.strip() for line in as_lines(value) for u in line.split(",") if u.strip())


def valid_urls(value: tuple[str, ...], where: str) -> None:
    """A check: each URL is an http(s) URL; shown without its credentials."""
    if not value:
        return
    from .models.endpoint import mask_url, url_problem

    for url in value:
        problem = url_problem(url)
        if problem:
            raise ConfigError(f"{where}: {mask_url(url)!r} {problem}")


def stripped(value: Any, where: str) -> str | None:
    """A name that is unset when empty."""
    return str(value or "").strip() or None


def on_off(value: Any, where: str) -> bool | None:
    """``on`` / ``off`` / ``auto`` -> ``True`` / ``False`` / ``None``."""
    return {"on": True, "off": False}.get(value)


def targets(value: Any, where: str) -> tuple[str, ...] | None:
    """``answer,thinking`` -> ``("answer", "thinking")``; ``None`` when not set."""
    if not value:
        return None
    names = tuple(t.strip() for t in str(value).split(",") if t.strip())
    if not names or any(t not in TARGET_NAMES for t in names):
        raise ConfigError(f"{where}: {value!r}: use answer, thinking or answer,thinking")
    return names


def efforts(value: Any, where: str) -> tuple[str, ...] | None:
    """``low,high`` -> ``("low", "high")``; ``None`` when not set."""
    if not value:
        return None
    names = tuple(dict.fromkeys(e.strip() for e in str(value).split(",") if e.strip()))
    if not names or any(e not in EFFORTS for e in names):
        raise ConfigError(
            f"{where}: {value!r}: efforts are a comma-separated list of {', '.join(EFFORTS)}"
        )
    return names


MAX_BUDGET = 1_000_000


def budgets(value: Any, where: str) -> tuple[int, ...] | None:
    """``0,512,4096`` -> ``(0, 512, 4096)`` (thinking budgets, in the order given, each once);
    ``None`` when not set."""
    if not value:
        return None
    words = [w.strip() for w in str(value).split(",") if w.strip()]
    if not words or not all(w.isdigit() and int(w) <= MAX_BUDGET for w in words):
        raise ConfigError(
            f"{where}: {value!r}: thinking budgets are a comma-separated list of token counts "
            f"from 0 (thinking off) to {MAX_BUDGET}, e.g. 0,512,4096"
        )
    return tuple(dict.fromkeys(int(w) for w in words))


def weights(value: Any, where: str) -> dict[str, float]:
    """``llm=2,refusal=1`` -> ``{"llm": 2.0, "refusal": 1.0}``."""
    out: dict[str, float] = {}
    for part in (p.strip() for line in as_lines(value) for p in line.split(",")):
        if not part:
            continue
        name, eq, number = (x.strip() for x in part.partition("="))
        try:
            out[name] = float(number)
        except ValueError:
            eq = ""
        if not eq or not name or out.get(name, -1.0) < 0:
            raise ConfigError(f"{where}: {part!r}: use NAME=WEIGHT with a weight of 0 or more")
    return out


def fraction(value: Any, where: str) -> float | None:
    """``0.02`` or ``2%`` -> 0.02; ``None`` when not set."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    try:
        number = float(text.rstrip("%")) / (100.0 if text.endswith("%") else 1.0)
    except ValueError:
        raise ConfigError(f"{where}: expected a number such as 0.02 or 2%, got {value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise ConfigError(f"{where}: must be within 0..1 (0%..100%), got {value!r}")
    return number
