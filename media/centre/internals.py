"""Checks, at import, that the private parts of aiortc and aioice the centre relies on
are still there and still used the way it relies on them.

aiortc offers no public way to receive Opus undecoded (``media.centre.opus``), to hear a
browser's picture-loss request (``media.centre.viewer``), or to check an idle peer's consent
more often than every 5 s (``media.centre.viewer``), so those modules reach into private
names. A release that renames one would not fail: the intercom would silently decode,
picture-loss requests would be lost, dead viewers would linger for 30 s. So each such
module states what it uses and this raises ``ImportError`` naming it instead, and the
versions are pinned in pyproject.toml.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def names_used(function: Any) -> set[str]:
    """The global and attribute names a function's own code refers to."""
    code = getattr(function, "__code__", None)
    return set(code.co_names) if code is not None else set()


def require(
    module: str,
    package: str,
    version: str,
    written_for: str,
    uses: Mapping[str, tuple[Any, set[str]]],
    breaks: str,
) -> None:
    """Raise ``ImportError`` unless each function in ``uses`` (its name in ``package``:
    the function, the names its code must still refer to) still refers to them;
    ``breaks`` says what would stop working."""
    for where, (function, names) in uses.items():
        missing = names - names_used(function)
        if missing:
            raise ImportError(
                f"{module} was written against {package} {written_for}; {package} "
                f"{version}'s {where} no longer uses {sorted(missing)}, so {breaks}: "
                f"review {module} against the new {package}"
            )
