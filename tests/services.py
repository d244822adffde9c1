"""PostgreSQL, Redis and nginx servers of the tests' own.

A test that needs either starts one from the binaries this machine has (those on PATH,
or where Debian's packages put them), on a free port, in a temporary directory, and
stops it after: never the machine's own instances, whose data and settings are not the
tests' to touch, and which a user's machine may not run at all. Where a binary cannot
be found, the test fails with the command that installs it; it is never skipped.

PostgreSQL refuses to run as root, as CI does; its directory then belongs to the
``postgres`` user Debian's package creates (or ``nobody``), and it runs as that user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

# How long a server may take to start accepting connections on a busy two-core machine.
START_S = 30.0


class ServiceMissing(RuntimeError):
    """A binary the tests need is not installed; the message says how to install it."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_binary(name: str, package: str) -> str:
    """``name`` on PATH, in ``/usr/sbin`` (nginx, not on a user's PATH), or in Debian's
    PostgreSQL layout (``/usr/lib/postgresql/N/bin``, which is not on PATH either)."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found:
        return found
    for version in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (version / name).is_file():
            return str(version / name)
    raise ServiceMissing(
        f"the tests need {name!r}, which is not installed: run `make system-deps` as root,"
        f" or `sudo apt-get install -y {package}`"
    )


def _wait_accepting(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server not accepting on {port} after {START_S:.0f} s: {_tail(log)}")


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-2000:]
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class PostgresServer:
    """One PostgreSQL cluster in a temporary directory. ``start``/``stop`` may be called
    again (a restart keeps the data); ``kill`` is a power cut of the server."""

    port: int = field(default_factory=free_port)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="seat-pg-")))
    process: subprocess.Popen[bytes] | None = None
    # Every commit on disk before it is acknowledged, as in production (benchmarks);
    # the tests' default acknowledges commits before their WAL is written.
    durable: bool = False

    def __post_init__(self) -> None:
        self._user = _unprivileged_user() if os.geteuid() == 0 else None
        self._data = self.directory / "data"
        self._log = self.directory / "server.log"
        if self._user is not None:
            os.chown(self.directory, self._user.pw_uid, self._user.pw_gid)
        initdb = find_binary("initdb", "postgresql")
        self._run([initdb, "-D", str(self._data), "-U", "postgres", "-A", "trust", "-E", "UTF8"])

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        command = [
            find_binary("postgres", "postgresql"), "-D", str(self._data), "-p", str(self.port),
            "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.directory}",
            "-c", "max_connections=200",
        ]  # fmt: skip
        if not self.durable:
            # The tests' data is thrown away; what they test is the centre's own commits,
            # which the server acknowledges the same way with these off.
            command += ["-c", "fsync=off", "-c", "synchronous_commit=off"]
            command += ["-c", "full_page_writes=off"]
        with self._log.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, **self._as_user()
            )
        _wait_accepting(self.port, self.process, self._log)

    def stop(self) -> None:
        _stop(self.process, signal.SIGINT)  # "fast" shutdown: ends open connections

    def kill(self) -> None:
        _stop(self.process, signal.SIGKILL)

    def create_database(self, name: str, template: str = "template0") -> str:
        """A new database, a copy of ``template`` (by default empty); its URL."""
        createdb = find_binary("createdb", "postgresql-client")
        where = ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        self._run([createdb, *where, "-T", template, name])
        return self.url(name)

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, command: list[str]) -> None:
        done = subprocess.run(command, capture_output=True, check=False, **self._as_user())
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")[-2000:]
            raise RuntimeError(f"{command[0]} failed: {output}")

    def _as_user(self) -> _RunAs:
        if self._user is None:
            return _RunAs()
        return _RunAs(user=self._user.pw_uid, group=self._user.pw_gid)


class _RunAs(TypedDict, total=False):
    """The ``subprocess`` arguments that run PostgreSQL as someone other than root."""

    user: int
    group: int


def _unprivileged_user() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise ServiceMissing("PostgreSQL will not run as root, and there is no 'postgres' user")


@dataclass
class RedisServer:
    """One Redis server that keeps nothing on disk; ``start``/``stop`` may be called
    again, on the same port."""

    port: int = field(default_factory=free_port)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="seat-redis-")))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            find_binary("redis-server", "redis-server"), "--port", str(self.port),
            "--bind", "127.0.0.1", "--dir", str(self.directory), "--save", "",
            "--appendonly", "no", "--protected-mode", "no",
        ]  # fmt: skip
        log = self.directory / "server.log"
        with log.open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        _wait_accepting(self.port, self.process, log)

    def stop(self) -> None:
        _stop(self.process)

    def kill(self) -> None:
        _stop(self.process, signal.SIGKILL)

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


@dataclass
class NginxServer:
    """nginx running ``site`` (a file for its http block) in a temporary directory:
    its pid file, logs and temporary files stay there, and it runs in the foreground
    as the tests' child. As root, its workers run as root too: the directory is not
    for another user to read."""

    site: str
    port: int = field(default_factory=free_port)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="seat-nginx-")))
    process: subprocess.Popen[bytes] | None = None

    @property
    def error_log(self) -> Path:
        return self.directory / "error.log"

    def start(self) -> None:
        where = self.directory
        (where / "site.conf").write_text(self.site)
        temp = "\n".join(
            f"    {kind}_temp_path {where / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (where / "nginx.conf").write_text(
            f"{'user root;' if os.geteuid() == 0 else ''}\n"
            f"daemon off;\nworker_processes 1;\npid {where / 'nginx.pid'};\n"
            f"error_log {self.error_log} info;\n"
            f"events {{}}\n"
            f"http {{\n{temp}\n    access_log {where / 'access.log'};\n"
            f"    include {where / 'site.conf'};\n}}\n"
        )
        nginx = find_binary("nginx", "nginx")
        command = [nginx, "-p", str(where), "-c", str(where / "nginx.conf")]
        with (where / "server.log").open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        _wait_accepting(self.port, self.process, self.error_log)

    def close(self) -> None:
        _stop(self.process)
        shutil.rmtree(self.directory, ignore_errors=True)
