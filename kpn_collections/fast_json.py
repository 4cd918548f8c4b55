"""Fast path "orjson": JSON written and read by orjson wherever its bytes are the standard library's
(the reference, in write.py and at each caller); `None` or `NoAnswer` hands the value back to the
reference."""

from __future__ import annotations

from typing import Any

from . import fast_paths

try:
    import orjson
except ImportError:  # pragma: no cover - orjson ships wheels for the usual platforms
    orjson = None  # type: ignore[assignment]


class NoAnswer(Exception):
    """orjson is off, missing, or reads the content differently: the reference reader answers."""


def _on() -> bool:
    return orjson is not None and fast_paths.enabled("orjson")


def indented(value: Any, *, newline: bool) -> bytes | None:
    """`json.dumps(value, indent=2, ensure_ascii=False)` (plus a newline) as UTF-8, or None where
    orjson would write other text: floats Python writes with an exponent or as NaN/Infinity,
    integers beyond 64 bits, lone surrogates."""
    if not _on() or _has_float_written_differently(value):
        return None
    option = orjson.OPT_INDENT_2 | (orjson.OPT_APPEND_NEWLINE if newline else 0)
    try:
        return orjson.dumps(value, option=option)
    except TypeError:  # an integer beyond 64 bits, a lone surrogate, a type orjson does not know
        return None


def sorted_key(value: Any) -> bytes | None:
    """A key equal for values with the same JSON content (keys sorted), or None when there is no
    quick one; callers then key by identity."""
    if not _on():
        return None
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson.JSONEncodeError
        return None


def loads(content: bytes) -> Any:
    """The JSON value of `content`; NoAnswer where the standard library must read it (orjson
    refuses what it reads differently, such as integers beyond 64 bits)."""
    if not _on():
        raise NoAnswer
    try:
        return orjson.loads(content)
    except ValueError:
        raise NoAnswer from None


def _has_float_written_differently(data: Any) -> bool:
    """Whether `data` holds a float whose Python text has an exponent or is not a number (NaN,
    Infinity). Its own walk: it looks at every value once."""
    level: list[Any] = [[data]]  # the root is looked at as a list's item
    while level:
        deeper: list[Any] = []
        for value in level:
            for child in value.values() if isinstance(value, dict) else value:
                if isinstance(child, (dict, list)):
                    deeper.append(child)
                elif isinstance(child, float):
                    text = repr(child)
                    if "e" in text or "n" in text:
                        return True
        level = deeper
    return False
