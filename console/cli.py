"""``seat``: run the centre or a lane agent, manage users and lanes, verify the ledger."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from . import db_commands
from .accounts import (
    add_user,
    cli_actor,
    put_lane,
    set_coverage,
    set_disabled,
    set_password,
    set_role,
)
from .errors import BadRequest, ConsoleError
from .ledger import format_utc
from .ledger_check import (
    LedgerReport,
    audit_ledger,
    ensure_ledger_sound,
    ledger_exists,
    sign_with_key,
)
from .logs import configure as configure_logging
from .logs import parse_log_format
from .models import Change, Direction, Role
from .parks import read_lists_file, read_rules_file, set_lists, set_rules, show_lists, show_rules
from .service import run_fast, until_stopped
from .settings import Settings, parse_public_url
from .sticker_format import StickerFormat
from .store import Store
from .stores import open_store, store_name


def read_password(prompt_twice: bool = True) -> str:
    """From a prompt on a terminal, else the first line of standard input; never from
    an argument, which every user of the machine can read in the process list."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if prompt_twice and getpass.getpass("again: ") != first:
        raise SystemExit("passwords differ")
    return first


async def _with_store(settings: Settings, work: Callable[[Store], Awaitable[int]]) -> int:
    """Checks the ledger before opening it for writing, as a start does, and signs a
    checkpoint of what the command added, so a CLI change is anchored at once."""
    await asyncio.to_thread(ensure_ledger_sound, settings)
    store = await open_store(settings)
    try:
        before = await store.audit_count()
        changes_before = await store.change_head()
        code = await work(store)
        if settings.redis_url is not None:
            await _tell_servers(settings.redis_url, await store.changes_since(changes_before))
        page = await store.audit_page(1)
        if page and page[0].seq > before:
            await asyncio.to_thread(
                sign_with_key, settings, page[0].seq, page[0].hash, datetime.now(UTC)
            )
        return code
    finally:
        await store.close()


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from .server import serve

    run_fast(serve(settings, args.accept_bad_ledger))
    return 0


def _cmd_lane(args: argparse.Namespace, settings: Settings) -> int:
    from gates.lane.targets import split_servers
    from media.lane.device_url import holds_secret, shown
    from media.lane.runner import NONE, SIM, MediaChoice, run_lane

    if args.camera is not None and holds_secret(args.camera):
        # Checked before anything starts: every user of the machine reads the process
        # list, and the shell's history keeps the line.
        print(
            f"seat lane: --camera {shown(args.camera)} holds a password, which every user "
            "sees in ps and shell history; give the URL in SEAT_LANE_CAMERA instead",
            file=sys.stderr,
        )
        return 2
    camera = args.camera or os.environ.get("SEAT_LANE_CAMERA") or None
    hardware = None
    lane, server = args.lane, args.server
    if args.config is not None:
        from gates.hardware.assembly import assemble
        from gates.hardware.options import LaneFileError

        simulated = [
            flag
            for flag, value in (
                ("--driver", args.driver),
                ("--lift-s", args.lift_s),
                ("--no-plate-p", args.no_plate_p),
                ("--seed", args.seed),
            )
            if value is not None
        ] + [
            f"--{name} sim"
            for name, choice in (
                ("camera", camera),
                ("microphone", args.microphone),
                ("speaker", args.speaker),
            )
            if choice == SIM
        ]
        if simulated:
            print(
                f"seat lane: {simulated[0]} is the simulated lane's, not --config's",
                file=sys.stderr,
            )
            return 2
        try:
            hardware = assemble(args.config)
            hardware.bind()  # a port in use is the lane file's mistake, found now
        except LaneFileError as exc:
            print(f"seat lane: {exc}", file=sys.stderr)
            return 2
        lane = lane or hardware.settings.lane
        server = server or list(hardware.settings.servers)
    if not lane:
        raise SystemExit("give the lane's id with --lane, or as [lane] id in the lane file")
    if not server:
        raise SystemExit("give the centre with --server, or as [lane] servers in the lane file")
    token = args.token or os.environ.get("SEAT_LANE_TOKEN", "")
    if not token:
        raise SystemExit("give the lane's token with --token or SEAT_LANE_TOKEN")
    try:
        servers = split_servers(server)
    except ValueError as exc:
        raise SystemExit(f"seat lane: {exc}") from None
    # Without a lane file the simulator's camera and voices; with one, only what is named.
    unset = NONE if hardware is not None else SIM
    run_fast(
        until_stopped(
            run_lane(
                servers,
                lane,
                token,
                driver=args.driver or SIM,
                lift_s=1.5 if args.lift_s is None else args.lift_s,
                no_plate_p=0.05 if args.no_plate_p is None else args.no_plate_p,
                seed=args.seed,
                heartbeat_ms=args.heartbeat_ms,
                state=args.state,
                media=MediaChoice(
                    camera=camera or unset,
                    microphone=args.microphone or unset,
                    speaker=args.speaker or unset,
                    size=args.size,
                    fps=args.fps,
                ),
                hardware=hardware,
            )
        )
    )
    return 0


async def _tell_servers(url: str, changes: list[Change]) -> None:
    """The running servers act on what the command changed (logins it ended, a lane it
    added or re-keyed) at once, not at their next poll of the change feed, which
    remains the way they learn of it if Redis is down. Redis's client is imported here,
    by the commands of a centre that has Redis, not by every command."""
    from redis.exceptions import RedisError

    from .cluster.told import tell_from_cli

    try:
        await tell_from_cli(url, changes)
    except (RedisError, OSError) as exc:
        print(
            f"seat: warning: the running servers were not told at once ({exc}); "
            "they apply the change at their next read of the store's change feed",
            file=sys.stderr,
        )


StoreCommand = Callable[[argparse.Namespace, Store], Awaitable[int]]


def with_store(command: StoreCommand) -> Callable[[argparse.Namespace, Settings], int]:
    """A subcommand that works on the store: opened for it, closed after it."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        async def work(store: Store) -> int:
            return await command(args, store)

        return asyncio.run(_with_store(settings, work))

    return run


@with_store
async def _cmd_user_add(args: argparse.Namespace, store: Store) -> int:
    await add_user(store, args.name, Role(args.role), read_password())
    print(f"added {args.name} ({args.role})")
    return 0


@with_store
async def _cmd_user_passwd(args: argparse.Namespace, store: Store) -> int:
    await set_password(store, args.name, read_password())
    print(f"password changed for {args.name}")
    return 0


@with_store
async def _cmd_user_role(args: argparse.Namespace, store: Store) -> int:
    await set_role(store, args.name, Role(args.role))
    print(f"{args.name} is now {args.role}")
    return 0


@with_store
async def _cmd_user_disable(args: argparse.Namespace, store: Store) -> int:
    await set_disabled(store, args.name, args.disable)
    print(f"{args.name} is {'disabled' if args.disable else 'enabled'}")
    return 0


@with_store
async def _cmd_user_coverage(args: argparse.Namespace, store: Store) -> int:
    if args.all == bool(args.car_parks):
        raise BadRequest("bad_request", "name the car parks the user answers for, or give --all")
    await set_coverage(store, args.name, None if args.all else args.car_parks)
    if args.all:
        print(f"{args.name} answers calls for every car park")
        return 0
    print(f"{args.name} answers calls for {', '.join(args.car_parks)}")
    known = {lane.car_park for lane in await store.list_lanes()}
    for park in args.car_parks:
        if park not in known:
            print(f"note: no lane is in car park {park!r} yet", file=sys.stderr)
    return 0


@with_store
async def _cmd_user_list(args: argparse.Namespace, store: Store) -> int:
    for user in await store.list_users():
        state = " (disabled)" if user.disabled else ""
        parks = "all car parks" if user.coverage is None else ", ".join(user.coverage)
        print(f"{user.username}\t{user.role.value}{state}\t{parks}")
    return 0


@with_store
async def _cmd_lane_list(args: argparse.Namespace, store: Store) -> int:
    for lane in await store.list_lanes():
        print(f"{lane.id}\t{lane.direction.value}\t{lane.car_park}\t{lane.name}")
    return 0


@with_store
async def _cmd_lane_add(args: argparse.Namespace, store: Store) -> int:
    token = await put_lane(store, args.id, args.name, args.car_park, Direction(args.direction))
    print(f"lane {args.id} token (shown once): {token}")
    return 0


@with_store
async def _cmd_rules_set(args: argparse.Namespace, store: Store) -> int:
    rules = read_rules_file(args.file)  # refused before anything is recorded
    await set_rules(store, args.car_park, rules)
    print(f"billing rules set for {args.car_park}")
    return 0


@with_store
async def _cmd_rules_show(args: argparse.Namespace, store: Store) -> int:
    rules = await show_rules(store, args.car_park)
    print(json.dumps(rules.to_json(), ensure_ascii=False, indent=2))
    return 0


@with_store
async def _cmd_lists_set(args: argparse.Namespace, store: Store) -> int:
    lists = read_lists_file(args.file, args.car_park)  # refused before anything is recorded
    await set_lists(store, args.car_park, lists)
    print(
        f"plate lists set for {args.car_park}: {len(lists.passes)} monthly passes,"
        f" {len(lists.whitelist)} whitelisted, {len(lists.blacklist)} blacklisted"
    )
    return 0


@with_store
async def _cmd_lists_show(args: argparse.Namespace, store: Store) -> int:
    lists = await show_lists(store, args.car_park)
    print(json.dumps(lists.to_json(), ensure_ascii=False, indent=2))
    return 0


def _cmd_lane_sticker(args: argparse.Namespace, settings: Settings) -> int:
    from .stickers import Issuer, print_sticker, public_base, sticker_filename

    base = public_base(settings, args.base_url)  # before the store: no guessing
    fmt = StickerFormat(args.format or _format_of(args.out))
    out: Path = args.out or Path(sticker_filename(args.id, fmt))
    if not out.parent.is_dir():
        raise SystemExit(f"seat: no directory {out.parent} to write the sticker in")
    if base.startswith("http://"):
        print(
            "seat: note: phones let a help page use the microphone only over https",
            file=sys.stderr,
        )

    async def work(store: Store) -> int:
        issuer = Issuer(cli_actor(), store.append)
        printed = await print_sticker(
            store, settings, args.id, fmt, issuer, base_url=base, revoke=args.revoke
        )
        sticker = printed.sticker
        if args.revoke:
            print(
                f"revoked every earlier sticker of lane {sticker.lane_id}: "
                f"only sticker {sticker.serial} works now"
            )
        await asyncio.to_thread(out.write_bytes, printed.data)
        print(f"wrote {out}: lane {sticker.lane_id}, sticker {sticker.serial}, {sticker.url}")
        return 0

    return asyncio.run(_with_store(settings, work))


def _format_of(out: Path | None) -> str:
    """The format a file name asks for; PNG when it says nothing."""
    suffix = "" if out is None else out.suffix.lower().lstrip(".")
    return suffix if suffix in ("png", "pdf") else "png"


def _base_url(text: str) -> str:
    try:
        return parse_public_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    public_keys = args.public_key or [path for path in [settings.audit_public_key] if path.exists()]
    report = audit_ledger(
        settings,
        args.anchor or [settings.anchor_file],
        public_keys,
        default_anchor=not args.anchor,
    )
    for line in _verify_lines(report):
        print(line)
    return 0 if report.ok else 1


_SHOWN_FINDINGS = 20


def _verify_lines(report: LedgerReport) -> list[str]:
    lines: list[str] = []
    if report.ok:
        lines.append(f"ok {report.end} entries")
    for finding in report.findings[:_SHOWN_FINDINGS]:
        where = "" if finding.bad_seq is None else f" entry {finding.bad_seq}"
        lines.append(f"bad{where}: {finding.problem}")
    if len(report.findings) > _SHOWN_FINDINGS:
        lines.append(f"... and {len(report.findings) - _SHOWN_FINDINGS} more")
    newest = report.newest
    if newest is None:
        lines.append("no checkpoint matched: entries cut from the end would not show")
    else:
        checkpoint = newest.checkpoint
        lines.append(
            f"{report.matched} checkpoints match; the newest covers {checkpoint.count} entries"
            f" ({newest.where}, signed {format_utc(checkpoint.at)} by key {checkpoint.key})"
        )
        if report.ok and report.end > checkpoint.count:
            lines.append(
                f"entries {checkpoint.count + 1}–{report.end} come after the newest "
                "checkpoint: cut from the end, they would not show"
            )
    lines += [f"note: {note}" for note in report.notes]
    return lines


def _cmd_audit_checkpoint(args: argparse.Namespace, settings: Settings) -> int:
    if not ledger_exists(settings):
        raise SystemExit(f"no ledger at {store_name(settings)}")
    report = ensure_ledger_sound(settings).report
    _, checkpoint = sign_with_key(settings, report.intact, report.head, datetime.now(UTC))
    print(checkpoint.to_line())
    print(
        f"signed {checkpoint.count} entries (key {checkpoint.key}), appended to "
        f"{settings.anchor_file}",
        file=sys.stderr,
    )
    return 0


def _cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from .demo import run_demo

    return run_demo(settings)


def _size(text: str) -> tuple[int, int]:
    from media.lane.runner import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="seat", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the centre (SEAT_* variables configure it)")
    serve.add_argument(
        "--accept-bad-ledger",
        type=int,
        metavar="ENTRIES",
        help="start although the ledger fails its check, on the ledger as it stands with "
        "ENTRIES entries (the count the refusal names); the start is recorded in it",
    )
    serve.set_defaults(run=_cmd_serve)

    lane = sub.add_parser("lane", help="run a lane agent at a car park")
    lane.add_argument(
        "--config",
        type=Path,
        help="the lane file (TOML) naming the lane's real devices and the part each plays "
        '(README, "Lane hardware"); without it the lane is simulated',
    )
    lane.add_argument(
        "--server",
        action="append",
        help="centre URL, e.g. http://centre:8080; several (repeated, or separated by commas) "
        "are one centre to the lane: it stays on one that works and moves to the next when "
        "it fails. A name with several addresses is tried address by address. Required "
        "unless the lane file gives [lane] servers",
    )
    lane.add_argument("--lane", help="the lane's id; required unless the lane file gives [lane] id")
    lane.add_argument("--token", help="the lane's link token (or SEAT_LANE_TOKEN)")
    lane.add_argument("--driver", choices=["sim"], help="sim (the default without --config)")
    lane.add_argument("--heartbeat-ms", type=int, default=5000)
    lane.add_argument(
        "--state",
        type=Path,
        help="journal of executed commands, so a restarted agent never runs one twice",
    )
    lane.add_argument("--lift-s", type=float, help="sim: barrier lift time (default 1.5)")
    lane.add_argument(
        "--no-plate-p",
        type=probability,
        help="sim: the share of cars that carry no plate the camera can read (0 to 1, "
        "default 0.05)",
    )
    lane.add_argument("--seed", type=int, default=None, help="sim: random seed")
    lane.add_argument(
        "--camera",
        help="sim (synthetic; the default without --config), none (the default with it), or "
        "an FFmpeg URL (rtsp://cam/stream) or a file; a URL with a password goes in "
        "SEAT_LANE_CAMERA instead, which is used when --camera is not given",
    )
    lane.add_argument(
        "--microphone",
        help="sim (synthetic voice; the default without --config), none, or alsa:DEVICE",
    )
    lane.add_argument(
        "--speaker",
        help="sim (keeps what it hears in memory; the default without --config), none, "
        "alsa:DEVICE, or wav:PATH (writes what it hears to a WAV file, readable while the "
        "lane runs, complete when it stops)",
    )
    lane.add_argument("--size", type=_size, default=(1280, 720), help="sim camera: frame size, WxH")
    lane.add_argument("--fps", type=float, default=15.0, help="sim camera: frames per second")
    lane.set_defaults(run=_cmd_lane)

    user = sub.add_parser("user", help="agent accounts").add_subparsers(
        dest="action", required=True
    )
    user_add = user.add_parser("add", help="add an account; the password is read from stdin")
    user_add.add_argument("name")
    user_add.add_argument("--role", choices=[r.value for r in Role], required=True)
    user_add.set_defaults(run=_cmd_user_add)
    passwd = user.add_parser("passwd", help="set an account's password (read from stdin)")
    passwd.add_argument("name")
    passwd.set_defaults(run=_cmd_user_passwd)
    role = user.add_parser("role", help="change an account's role; ends its sessions")
    role.add_argument("name")
    role.add_argument("--role", choices=[r.value for r in Role], required=True)
    role.set_defaults(run=_cmd_user_role)
    coverage = user.add_parser(
        "coverage", help="the car parks whose calls an account answers; its sessions stand"
    )
    coverage.add_argument("name")
    coverage.add_argument("car_parks", nargs="*", metavar="PARK", help="car park names")
    coverage.add_argument("--all", action="store_true", help="every car park (the default)")
    coverage.set_defaults(run=_cmd_user_coverage)
    user.add_parser("list", help="accounts, their roles and car parks").set_defaults(
        run=_cmd_user_list
    )
    for verb, disable in (("disable", True), ("enable", False)):
        switch = user.add_parser(verb, help=f"{verb} an account (disabling ends its sessions)")
        switch.add_argument("name")
        switch.set_defaults(run=_cmd_user_disable, disable=disable)

    lanes = sub.add_parser("lanes", help="the lane registry").add_subparsers(
        dest="action", required=True
    )
    lane_add = lanes.add_parser("add", help="add a lane or rotate its token; prints the token")
    lane_add.add_argument("id")
    lane_add.add_argument("--name", required=True)
    lane_add.add_argument("--car-park", required=True)
    lane_add.add_argument("--direction", choices=[d.value for d in Direction], required=True)
    lane_add.set_defaults(run=_cmd_lane_add)
    lanes.add_parser("list", help="registered lanes").set_defaults(run=_cmd_lane_list)
    sticker = lanes.add_parser(
        "sticker",
        help="write the lane's help sticker (A6, 300 dpi): a QR code drivers scan to call the seat",
    )
    sticker.add_argument("id")
    sticker.add_argument(
        "--out", type=Path, help="the file to write (default: sticker-ID.FORMAT in this directory)"
    )
    sticker.add_argument(
        "--format",
        choices=[f.value for f in StickerFormat],
        help="png or pdf (default: from --out's suffix, else png)",
    )
    sticker.add_argument(
        "--base-url",
        type=_base_url,
        help="the address drivers' phones reach the centre at (default: SEAT_PUBLIC_URL)",
    )
    sticker.add_argument(
        "--revoke",
        action="store_true",
        help="replace every sticker printed for the lane so far: they stop working",
    )
    sticker.set_defaults(run=_cmd_lane_sticker)

    parks = sub.add_parser("parks", help="car parks").add_subparsers(dest="action", required=True)
    rules = parks.add_parser("rules", help="a car park's billing rules").add_subparsers(
        dest="rules_action", required=True
    )
    rules_set = rules.add_parser("set", help="set the rules from a JSON file (README, Billing)")
    rules_set.add_argument("car_park")
    rules_set.add_argument("file", type=Path)
    rules_set.set_defaults(run=_cmd_rules_set)
    rules_show = rules.add_parser("show", help="print the car park's rules as JSON")
    rules_show.add_argument("car_park")
    rules_show.set_defaults(run=_cmd_rules_show)
    lists = parks.add_parser(
        "lists", help="a car park's monthly passes, whitelist and blacklist"
    ).add_subparsers(dest="lists_action", required=True)
    lists_set = lists.add_parser("set", help="set the lists from a JSON file (README, Billing)")
    lists_set.add_argument("car_park")
    lists_set.add_argument("file", type=Path)
    lists_set.set_defaults(run=_cmd_lists_set)
    lists_show = lists.add_parser("show", help="print the car park's lists as JSON")
    lists_show.add_argument("car_park")
    lists_show.set_defaults(run=_cmd_lists_show)

    audit = sub.add_parser("audit", help="the audit ledger").add_subparsers(
        dest="action", required=True
    )
    verify = audit.add_parser(
        "verify",
        help="check every entry and checkpoint, changing no file; exit 1 if anything is bad",
    )
    verify.add_argument(
        "--anchor",
        type=Path,
        action="append",
        help="an anchor file or receipts to check against, instead of SEAT_AUDIT_ANCHOR's "
        "(repeatable)",
    )
    verify.add_argument(
        "--public-key",
        type=Path,
        action="append",
        help="a public key that may have signed checkpoints (repeatable; default: "
        "audit-key.pub in the data dir)",
    )
    verify.set_defaults(run=_cmd_audit_verify)
    checkpoint = audit.add_parser(
        "checkpoint",
        help="sign the ledger's head, append it to the anchor file and print it: a receipt",
    )
    checkpoint.set_defaults(run=_cmd_audit_checkpoint)

    db_commands.add_parser(sub)

    demo = sub.add_parser("demo", help="a centre with four simulated lanes and demo logins")
    demo.set_defaults(run=_cmd_demo)
    return top


def probability(raw: str) -> float:
    """A chance from 0 to 1, for argparse."""
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {raw!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"a chance is from 0 to 1, not {raw}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    level = os.environ.get("SEAT_LOG_LEVEL", "INFO")
    try:
        fmt = parse_log_format(os.environ.get("SEAT_LOG_FORMAT", "text"))
    except ValueError as exc:
        print(f"seat: {exc}", file=sys.stderr)
        return 2
    try:
        configure_logging(level.upper(), fmt=fmt)
    except ValueError:
        print(
            f"seat: SEAT_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {level!r}",
            file=sys.stderr,
        )
        return 2
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"seat: {exc}", file=sys.stderr)
        return 2
    try:
        code: int = args.run(args, settings)
    except ConsoleError as exc:
        print(f"seat: {exc.code}: {exc.detail}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
