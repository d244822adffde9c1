"""The ``seat`` command as an operator runs it: real processes, a real ledger file."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from console.ledger import AuditAction
from console.models import Direction, Role
from console.settings import Settings
from console.sqlite_store import SQLiteStore
from gates.protocol import DisplaySize, OpenGate
from gates.vocabulary import GateState
from tests.conftest import PASSWORD, Centre

SEAT = [sys.executable, "-m", "console.cli"]


def seat(
    data_dir: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "SEAT_DATA_DIR": str(data_dir),
        "SEAT_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    return subprocess.run(
        [*SEAT, *args], input=stdin, capture_output=True, text=True, env=environment, timeout=60
    )


async def ledger_actions(path: Path) -> list[AuditAction]:
    store = await SQLiteStore.open(path)
    try:
        return [entry.action async for entry in store.iter_audit()]
    finally:
        await store.close()


async def test_user_add_reads_the_password_from_stdin(tmp_path: Path) -> None:
    """The account exists with that role, and its creation is ledgered."""
    result = seat(tmp_path, "user", "add", "wang", "--role", "supervisor", stdin=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    store = await SQLiteStore.open(tmp_path / "seat.db")
    try:
        user = await store.get_user("wang")
        entries = [entry async for entry in store.iter_audit()]
    finally:
        await store.close()
    assert user is not None and user.role is Role.SUPERVISOR
    assert PASSWORD not in user.password_hash
    assert [(e.action, e.detail["username"]) for e in entries] == [(AuditAction.USER_ADDED, "wang")]


def test_user_add_refuses_a_short_password_and_creates_nothing(tmp_path: Path) -> None:
    """A weak password is named as the problem; no account appears."""
    result = seat(tmp_path, "user", "add", "wang", "--role", "agent", stdin="short\n")
    assert result.returncode != 0
    assert "at least 10 characters" in result.stderr
    users = sqlite3.connect(tmp_path / "seat.db").execute("SELECT count(*) FROM users").fetchone()
    assert users == (0,)


def test_user_add_twice_is_a_conflict(tmp_path: Path) -> None:
    """An existing username is not overwritten."""
    assert seat(tmp_path, "user", "add", "wang", "--role", "agent", stdin=PASSWORD).returncode == 0
    again = seat(tmp_path, "user", "add", "wang", "--role", "admin", stdin=PASSWORD)
    assert again.returncode == 2 and "exists" in again.stderr


def test_password_is_never_an_argument(tmp_path: Path) -> None:
    """There is no --password option to leak into the process list."""
    result = seat(tmp_path, "user", "add", "wang", "--role", "agent", "--password", PASSWORD)
    assert result.returncode == 2 and "unrecognized arguments" in result.stderr


def test_audit_verify_passes_then_names_the_tampered_row(tmp_path: Path) -> None:
    """verify prints ok N; after one row is edited behind the program's back it names it."""
    for name in ("a1", "a2", "a3"):
        assert (
            seat(tmp_path, "user", "add", name, "--role", "agent", stdin=PASSWORD).returncode == 0
        )
    ok = seat(tmp_path, "audit", "verify")
    assert (ok.returncode, ok.stdout.splitlines()[0]) == (0, "ok 3 entries")

    db = sqlite3.connect(tmp_path / "seat.db")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 2")
    triggers = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'")]
    for trigger in triggers:
        db.execute(f"DROP TRIGGER {trigger}")
    db.execute("""UPDATE audit SET detail = '{"role":"admin","username":"a2"}' WHERE seq = 2""")
    db.commit()
    db.close()

    bad = seat(tmp_path, "audit", "verify")
    assert bad.returncode == 1
    assert bad.stdout.startswith("bad entry 2:")


def test_audit_verify_without_a_ledger_says_so(tmp_path: Path) -> None:
    """Pointing at an empty data dir is an error, not 'ok 0 entries'."""
    result = seat(tmp_path / "nowhere", "audit", "verify")
    assert result.returncode != 0 and "no ledger" in result.stderr


async def test_lane_added_by_cli_connects_with_its_printed_token(
    centre: Centre, settings: Settings
) -> None:
    """`seat lanes add` prints a token that `seat lane` then uses to come online; stopping
    the lane process turns it offline, starting it again brings it back."""
    added = seat(
        settings.data_dir, "lanes", "add", "P9-OUT", "--name", "九号出口",
        "--car-park", "测试停车场", "--direction", Direction.EXIT.value,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip().rsplit(" ", 1)[1]

    async def start() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            *SEAT, "lane", "--server", centre.url, "--lane", "P9-OUT", "--heartbeat-ms", "1000",
            "--lift-s", "0", "--seed", "7", "--state", str(settings.data_dir / "P9.jsonl"),
            env={**os.environ, "SEAT_LANE_TOKEN": token, "SEAT_LOG_LEVEL": "WARNING"},
        )  # fmt: skip

    lane = await start()
    try:
        status = await centre.wait_status("P9-OUT", lambda s: s.gate is GateState.DOWN, 30)
        assert status.online
        resolved = await centre.hub.command("P9-OUT", OpenGate("c-journal"), 10)
        assert resolved.outcome == "done"
        journal = (settings.data_dir / "P9.jsonl").read_text()
        assert '"id": "c-journal", "running": false' in journal
        lane.terminate()
        await lane.wait()
        await centre.wait_status("P9-OUT", lambda s: not s.online)
        lane = await start()
        await centre.wait_status("P9-OUT", lambda s: s.online, 30)
    finally:
        if lane.returncode is None:
            lane.terminate()
            await lane.wait()
    assert AuditAction.LANE_ADDED in await ledger_actions(settings.database)


async def test_simulated_lane_states_its_display_size(centre: Centre, settings: Settings) -> None:
    """`seat lane --driver sim` tells the centre its panel shows 4 lines of 32, and the
    console's API says so."""
    token = await centre.add_lane("P1-IN")
    lane = await asyncio.create_subprocess_exec(
        *SEAT, "lane", "--server", centre.url, "--lane", "P1-IN", "--heartbeat-ms", "1000",
        "--camera", "none", "--microphone", "none", "--speaker", "none",
        env={**os.environ, "SEAT_LANE_TOKEN": token, "SEAT_LOG_LEVEL": "WARNING"},
    )  # fmt: skip
    try:
        status = await centre.wait_status("P1-IN", lambda s: s.online, 30)
        assert status.display == DisplaySize(lines=4, chars=32)
        await centre.add_user("alice", Role.AGENT)
        async with centre.client("alice") as client:
            [body] = (await client.get("/api/lanes")).json()["lanes"]
        assert body["display"] == {"lines": 4, "chars": 32}
    finally:
        lane.terminate()
        await lane.wait()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
async def test_lane_agent_stops_cleanly_on_a_signal_even_started_in_the_background(
    tmp_path: Path, stop: signal.Signals
) -> None:
    """A lane started with SIGINT ignored (as a shell's background job inherits it) still
    exits with 0 on SIGINT or SIGTERM while it is redialling an unreachable centre."""
    lane = await asyncio.create_subprocess_exec(
        *SEAT, "lane", "--server", "http://127.0.0.1:9", "--lane", "P1", "--camera", "none",
        "--microphone", "none", "--speaker", "none",
        env={**os.environ, "SEAT_LANE_TOKEN": "t", "SEAT_DATA_DIR": str(tmp_path)},
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )  # fmt: skip
    assert lane.stderr is not None
    async with asyncio.timeout(30):
        while b"lane.link.failed" not in await lane.stderr.readline():
            pass  # running, and redialling
        lane.send_signal(stop)
        await lane.communicate()
    assert lane.returncode == 0


@pytest.mark.parametrize(
    ("servers", "said"),
    [
        (["http://127.0.0.1:9,,http://127.0.0.1:10"], "--server takes centre URLs"),
        (["http://127.0.0.1:9", "ftp://127.0.0.1:10"], "not 'ftp://127.0.0.1:10'"),
    ],
)
def test_lane_refuses_a_bad_centre_among_several(
    tmp_path: Path, servers: list[str], said: str
) -> None:
    """Every centre a lane is given is checked before it dials any: one bad entry stops
    it with a message naming it, not a traceback or a lane that skips it for ever."""
    args = [arg for server in servers for arg in ("--server", server)]
    result = seat(tmp_path, "lane", *args, "--lane", "P1", env={"SEAT_LANE_TOKEN": "t"})
    assert result.returncode != 0
    assert said in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("lane_file", "extra", "said"),
    [
        ("[devices.cam]\nfamily = alarminfo\n", (), "lane.toml: not TOML: "),
        ('[devices.cam]\nfamily = "vzenith"\n', (), "device 'cam', family: must be one of"),
        ('[devices.cam]\nfamily = "alarminfo"\n', ("--lift-s", "1"), "--lift-s is the simulated"),
        ('[devices.cam]\nfamily = "alarminfo"\n', ("--camera", "sim"), "--camera sim is the"),
        (
            '[devices.cam]\nfamily = "alarminfo"\naddress = "127.0.0.1"\n'
            'listen = "127.0.0.1:{port}"\n',
            (),
            "cannot listen on 127.0.0.1:{port}: Address already in use",
        ),
    ],
)
def test_lane_with_a_bad_lane_file_exits_2_saying_what_is_wrong(
    tmp_path: Path, lane_file: str, extra: tuple[str, ...], said: str
) -> None:
    """The installer's mistake is named before the lane dials anything."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    (tmp_path / "lane.toml").write_text(lane_file.replace("{port}", str(port)), encoding="utf-8")
    said = said.replace("{port}", str(port))
    with taken:
        result = seat(
        tmp_path, "lane", "--config", str(tmp_path / "lane.toml"), "--lane", "P1",
            "--server", "http://127.0.0.1:9", *extra, env={"SEAT_LANE_TOKEN": "t"},
        )  # fmt: skip
    assert result.returncode == 2
    assert said in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("camera", "said"),
    [
        ("rtsp://admin:secret@127.0.0.1:9/Streaming/Channels/101", "rtsp://admin:***@127.0.0.1:9/"),
        ("http://127.0.0.1:9/videostream.cgi?user=admin&pwd=secret", "user=admin&pwd=***"),
        ("rtsp://127.0.0.1:9/user=admin&password=secret&channel=1", "password=***&channel=1"),
    ],
)
def test_lane_refuses_a_camera_password_on_the_command_line(
    tmp_path: Path, camera: str, said: str
) -> None:
    """Every user of the machine reads the process list: a --camera holding a password
    stops the lane before it dials anything (a lane that started would redial the
    closed centre for ever), saying where the URL goes instead and not echoing it."""
    result = seat(
        tmp_path, "lane", "--server", "http://127.0.0.1:9", "--lane", "P1", "--camera", camera,
        "--microphone", "none", "--speaker", "none",
        env={"SEAT_LANE_TOKEN": "t", "SEAT_LOG_LEVEL": "INFO"},
    )  # fmt: skip
    assert result.returncode == 2
    assert "holds a password" in result.stderr and "SEAT_LANE_CAMERA" in result.stderr
    assert said in result.stderr and "secret" not in result.stderr
    assert "lane.link" not in result.stderr and "Traceback" not in result.stderr


async def test_lane_takes_its_camera_from_the_environment_and_never_shows_its_password(
    centre: Centre, tmp_path: Path
) -> None:
    """SEAT_LANE_CAMERA names the camera when --camera is not given. One that cannot be
    opened is a camera fault on the console's lane row naming the URL, and a line in
    the lane's log, with its password masked in both."""
    token = await centre.add_lane("P1-IN")
    closed = socket.socket()  # bound, not listening: a connection is refused
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    url = f"rtsp://user:secret@127.0.0.1:{port}/Streaming/Channels/101"
    log = tmp_path / "lane.log"
    with closed, log.open("wb") as errors:
        lane = await asyncio.create_subprocess_exec(
            *SEAT, "lane", "--server", centre.url, "--lane", "P1-IN", "--heartbeat-ms", "1000",
            "--microphone", "none", "--speaker", "none",
            env={
                **os.environ, "SEAT_LANE_TOKEN": token, "SEAT_LANE_CAMERA": url,
                "SEAT_LOG_LEVEL": "DEBUG", "SEAT_DATA_DIR": str(tmp_path),
            },
            stderr=errors,
        )  # fmt: skip
        try:
            await centre.wait_status(
                "P1-IN", lambda s: any(f.code == "camera_unavailable" for f in s.faults), 30
            )
            await centre.add_user("alice", Role.AGENT)
            async with centre.client("alice") as client:
                [row] = (await client.get("/api/lanes")).json()["lanes"]
        finally:
            lane.terminate()
            await lane.wait()
    [detail] = [f["detail"] for f in row["faults"] if f["code"] == "camera_unavailable"]
    assert f"cannot open rtsp://user:***@127.0.0.1:{port}/Streaming/Channels/101" in detail
    assert "secret" not in json.dumps(row)
    logged = log.read_text(encoding="utf-8")
    assert "lane.media.source_down" in logged and "user:***@" in logged
    assert "secret" not in logged


def test_bad_setting_is_named(tmp_path: Path) -> None:
    """A mistyped variable is reported by name, not as a traceback."""
    env = {**os.environ, "SEAT_DATA_DIR": str(tmp_path), "SEAT_PORT": "eighty"}
    result = subprocess.run(
        [*SEAT, "audit", "verify"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "seat: SEAT_PORT must be a number, not 'eighty'"


async def test_role_change_ends_the_users_sessions_and_is_audited(
    centre: Centre, settings: Settings
) -> None:
    """A demoted or promoted account must log in again; the change is in the ledger."""
    await centre.add_user("alice", Role.AGENT)
    async with centre.client("alice") as client:
        assert (await client.get("/api/me")).status_code == 200
        result = seat(settings.data_dir, "user", "role", "alice", "--role", "supervisor")
        assert result.returncode == 0, result.stderr
        await centre.changes.poll()  # the centre's next read of the change feed
        assert (await client.get("/api/me")).status_code == 401
    listed = seat(settings.data_dir, "user", "list")
    assert listed.stdout.splitlines() == ["alice\tsupervisor\tall car parks"]
    changes = [
        e.detail async for e in centre.store.iter_audit() if e.action is AuditAction.USER_CHANGED
    ]
    assert changes == [
        {"username": "alice", "change": "role", "role": "supervisor", "sessions_ended": 1}
    ]


def test_role_change_for_unknown_user_is_an_error(tmp_path: Path) -> None:
    """Nothing is created by changing an account that does not exist."""
    result = seat(tmp_path, "user", "role", "ghost", "--role", "admin")
    assert result.returncode == 2 and "ghost" in result.stderr


async def test_disabled_account_is_logged_out_and_cannot_log_in(
    centre: Centre, settings: Settings
) -> None:
    """A leaver's account stops working at once; enabling it restores login."""
    await centre.add_user("alice", Role.AGENT)
    async with centre.client("alice") as client:
        assert seat(settings.data_dir, "user", "disable", "alice").returncode == 0
        await centre.changes.poll()  # the centre's next read of the change feed
        assert (await client.get("/api/me")).status_code == 401
        login = await client.post("/api/login", json={"username": "alice", "password": PASSWORD})
        assert login.status_code == 401
        assert seat(settings.data_dir, "user", "enable", "alice").returncode == 0
        await centre.changes.poll()
        login = await client.post("/api/login", json={"username": "alice", "password": PASSWORD})
        assert login.status_code == 200
    assert seat(settings.data_dir, "user", "list").stdout.splitlines() == [
        "alice\tagent\tall car parks"
    ]


def test_lanes_list_shows_the_registry(tmp_path: Path) -> None:
    """Registered lanes are listed with direction, car park and name."""
    seat(tmp_path, "lanes", "add", "P1-IN", "--name", "入口", "--car-park", "人民路",
         "--direction", "entry")  # fmt: skip
    listed = seat(tmp_path, "lanes", "list")
    assert listed.stdout.splitlines() == ["P1-IN\tentry\t人民路\t入口"]


@pytest.mark.parametrize(
    ("lane_id", "name", "error"),
    [
        ("../../etc", "入口", "invalid_lane_id"),
        ("", "入口", "invalid_lane_id"),
        ("L 3", "入口", "invalid_lane_id"),
        ("L" * 5000, "入口", "invalid_lane_id"),
        ("P1-IN", "x" * 100_000, "invalid_lane_name"),
        ("P1-IN", "入口\n伪造", "invalid_lane_name"),
        ("P1-IN", "   ", "invalid_lane_name"),
    ],
)
def test_lanes_add_refuses_what_the_lane_link_would(
    tmp_path: Path, lane_id: str, name: str, error: str
) -> None:
    """An id the link refuses, or a name no column can show, is refused and not stored."""
    result = seat(tmp_path, "lanes", "add", lane_id, "--name", name, "--car-park", "人民路",
                  "--direction", "entry")  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith(f"seat: {error}: ")
    assert seat(tmp_path, "lanes", "list").stdout == ""


async def test_coverage_names_the_car_parks_an_agent_answers_and_is_audited(
    tmp_path: Path,
) -> None:
    """Set, listed, cleared with --all; a park no lane is in yet is pointed out."""
    seat(tmp_path, "lanes", "add", "P1-IN", "--name", "入口", "--car-park", "人民路",
         "--direction", "entry")  # fmt: skip
    seat(tmp_path, "user", "add", "alice", "--role", "agent", stdin=PASSWORD + "\n")
    result = seat(tmp_path, "user", "coverage", "alice", "人民路", "解放路")
    assert result.returncode == 0, result.stderr
    assert "解放路" in result.stderr and "人民路" not in result.stderr
    listed = seat(tmp_path, "user", "list").stdout.splitlines()
    assert listed == ["alice\tagent\t人民路, 解放路"]
    assert seat(tmp_path, "user", "coverage", "alice", "--all").returncode == 0
    assert seat(tmp_path, "user", "list").stdout.splitlines() == ["alice\tagent\tall car parks"]
    store = await SQLiteStore.open(tmp_path / "seat.db")
    try:
        changes = [
            e.detail async for e in store.iter_audit() if e.action is AuditAction.USER_CHANGED
        ]
    finally:
        await store.close()
    assert changes == [
        {"username": "alice", "change": "coverage", "car_parks": ["人民路", "解放路"]},
        {"username": "alice", "change": "coverage", "car_parks": None},
    ]


@pytest.mark.parametrize(
    "args", [("alice",), ("alice", "人民路", "--all"), ("ghost", "人民路"), ("alice", " ")]
)
def test_coverage_needs_parks_or_all_for_a_known_user(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    seat(tmp_path, "user", "add", "alice", "--role", "agent", stdin=PASSWORD + "\n")
    result = seat(tmp_path, "user", "coverage", *args)
    assert result.returncode == 2 and result.stderr
