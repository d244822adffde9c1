"""Reading into an audit entry's ``detail``, which the ledger types as any JSON: a
test walks the shape it expects, and fails naming the step where the entry differs."""

from __future__ import annotations

from collections.abc import Mapping


def at(value: object, *path: str | int) -> object:
    """The value at ``path`` (keys of objects, indexes of arrays) inside ``value``."""
    for step in path:
        if isinstance(step, str):
            assert isinstance(value, Mapping), f"not an object at {step!r}: {value!r}"
            value = value[step]
        else:
            assert isinstance(value, list | tuple), f"not an array at {step}: {value!r}"
            value = value[step]
    return value


def each(value: object, *path: str | int) -> list[object]:
    """The array at ``path`` inside ``value``."""
    found = at(value, *path)
    assert isinstance(found, list | tuple), f"not an array at {path}: {found!r}"
    return list(found)
