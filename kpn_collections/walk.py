"""Whole-document walks, level by level: one list comprehension per container rather than a Python
step per value, since a big API description has a million values."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def container_levels(root: Any) -> Iterator[list[Any]]:
    """The dicts and lists of `root`, one nesting level at a time: `[root]`, then its containers,
    and so on (the first level is empty when `root` is a scalar)."""
    level = [root] if isinstance(root, (dict, list)) else []
    while level:
        yield level
        deeper: list[Any] = []
        for value in level:
            deeper += [
                child
                for child in (value.values() if isinstance(value, dict) else value)
                if isinstance(child, (dict, list))
            ]
        level = deeper
