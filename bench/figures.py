"""How every benchmark ends: measure, print one line per figure as
``name: value unit (ratio vs baseline)``, and with ``--json`` one JSON object of all."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from console.service import run_fast

Figures = dict[str, Any]


def measure_and_print(
    measure: Callable[[], Awaitable[Figures]],
    report: Callable[[Figures], Iterable[str]],
    *,
    as_json: bool,
) -> None:
    result: Figures = {}

    async def run() -> None:
        result.update(await measure())

    run_fast(run())
    for line in report(result):
        print(line)
    if as_json:
        print(json.dumps(result))
