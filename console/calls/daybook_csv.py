"""The day's call ledger as a CSV file for Excel: UTF-8 with a byte order mark (without
it Excel reads the Chinese as the local ANSI code page), Chinese headers, local times as
Excel parses them, money in yuan from whole fen, and no cell a spreadsheet would run as
a formula.

Pure: rows in, bytes and a header value out.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from datetime import date
from urllib.parse import quote

from gates.centre.commands import Outcome as CommandOutcome

from ..actions import OpenReason
from .daybook import CATEGORY_LABELS, LedgerRow, local
from .model import CallState, Source
from .record import ActionKind, ActionTaken

HEADERS = (
    "时间",
    "车道",
    "来源",
    "坐席",
    "等待(秒)",
    "处理(秒)",
    "类别",
    "车牌",
    "金额(元)",
    "操作",
    "超时",
    "免费放行",
    "逃费",
    "黑名单",
    "备注",
)

SOURCE_LABELS: dict[Source, str] = {
    Source.LANE: "车道呼叫",
    Source.PHONE: "扫码电话",
    Source.HOTLINE: "热线",
}
KIND_LABELS: dict[ActionKind, str] = {
    ActionKind.OPEN_GATE: "开闸",
    ActionKind.DISPLAY: "显示",
}
REASON_LABELS: dict[str, str] = {
    OpenReason.PAID_NOT_LIFTED: "缴费不抬杆",
    OpenReason.NO_ENTRY_RECORD: "无入场记录",
    OpenReason.FREE_RELEASE: "免费放行",
    OpenReason.PLATE_MISREAD: "车牌识别错误",
    OpenReason.EQUIPMENT_FAULT: "设备故障",
    OpenReason.EMERGENCY: "紧急情况",
    OpenReason.ESCAPE_RECOVERED: "逃逸追缴已处理",
    OpenReason.OTHER: "其他",
    OpenReason.PAID: "已支付",
    OpenReason.NO_PLATE_ENTRY: "无牌车入场",
    OpenReason.ENTRY: "入场放行",
    OpenReason.MONTHLY_PASS: "月卡",
    OpenReason.WHITELIST: "白名单",
    OpenReason.FREE_MINUTES: "免费时长内",
}
OUTCOME_LABELS: dict[str, str] = {
    CommandOutcome.DONE: "成功",
    CommandOutcome.REFUSED: "被拒绝",
    CommandOutcome.TIMEOUT: "超时无应答",
    CommandOutcome.LANE_OFFLINE: "车道离线",
}
# The 类别 of a call finished without the form.
UNANSWERED = "未接听"
UNFILED = "未填写"
YES, NO = "是", "否"

# OWASP, CSV injection: a cell starting with one of these is a formula to a spreadsheet.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# What an ASCII file name keeps of a car park's name.
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def yuan(fen: int) -> str:
    """Whole fen as yuan with two decimals, in integers: no float ever rounds money."""
    return f"{fen // 100}.{fen % 100:02d}"


def defused(cell: str) -> str:
    """``cell`` with a leading ``'`` if a spreadsheet would take it for a formula."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _label(labels: dict[str, str], value: str) -> str:
    """A code's Chinese label, or the code itself if it is not one of ours."""
    return labels.get(value, value)


def action_text(action: ActionTaken) -> str:
    """``开闸(免费放行)：成功``; an outcome unknown when the call ended is ``结果未知``."""
    reason = "" if action.reason is None else f"({_label(REASON_LABELS, action.reason)})"
    outcome = "结果未知" if action.outcome is None else _label(OUTCOME_LABELS, action.outcome)
    return f"{KIND_LABELS[action.kind]}{reason}：{outcome}"


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _category(row: LedgerRow) -> str:
    if row.category is not None:
        return CATEGORY_LABELS[row.category]
    return UNANSWERED if row.record.state is CallState.ABANDONED else UNFILED


def cells(row: LedgerRow) -> list[str]:
    """One row under ``HEADERS``, defused."""
    record = row.record
    amount = row.amount_fen
    values = [
        local(record.queued_at).strftime("%Y-%m-%d %H:%M:%S"),
        record.lane_id,
        SOURCE_LABELS[record.source],
        record.agent or "",
        _seconds(record.wait_s),
        _seconds(record.handle_s),
        _category(row),
        row.plate,
        "" if amount is None else yuan(amount),
        "；".join(action_text(action) for action in record.actions),
        YES if record.breached else NO,
        YES if row.free_release else NO,
        YES if row.escape else NO,
        YES if row.blacklist else NO,
        row.note,
    ]
    return [defused(value) for value in values]


def csv_bytes(rows: Sequence[LedgerRow]) -> bytes:
    """The file: a BOM, the headers, a line per row (CRLF, as Excel writes them). Text
    that cannot be UTF-8 (a lone surrogate) is written escaped rather than failing the
    whole file."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    writer.writerows(cells(row) for row in rows)
    return "\ufeff".encode() + out.getvalue().encode("utf-8", "backslashreplace")


def attachment(day: date, car_park: str | None) -> str:
    """The ``Content-Disposition`` value: ``calls-2026-03-01-人民路停车场.csv`` as RFC 5987's
    ``filename*``, with an ASCII ``filename`` for clients that do not read it (the name's
    ASCII letters and digits, or the date alone)."""
    name = f"calls-{day.isoformat()}" + ("" if car_park is None else f"-{car_park}")
    ascii_park = "" if car_park is None else _UNSAFE_IN_NAME.sub("_", car_park).strip("_.")
    fallback = f"calls-{day.isoformat()}" + (f"-{ascii_park}" if ascii_park else "")
    encoded = quote(f"{name}.csv".encode("utf-8", "backslashreplace"), safe="")
    return f"attachment; filename=\"{fallback}.csv\"; filename*=UTF-8''{encoded}"
