"""The tests' own PostgreSQL and Redis start, answer and stop: the fixtures every test
of the shared store and the live state builds on."""

from __future__ import annotations

import socket
import subprocess

import pytest

from tests.services import PostgresServer, RedisServer, ServiceMissing, find_binary


def _ask_redis(port: int, command: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), 5) as sock:
        sock.sendall(command)
        return sock.recv(100)


def test_redis_server_answers_and_restarts_on_its_port(redis_server: RedisServer) -> None:
    assert _ask_redis(redis_server.port, b"PING\r\n") == b"+PONG\r\n"
    redis_server.kill()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", redis_server.port), 1).close()
    redis_server.start()
    assert _ask_redis(redis_server.port, b"PING\r\n") == b"+PONG\r\n"


def test_postgres_server_gives_each_test_a_database(postgres_url: str) -> None:
    psql = find_binary("psql", "postgresql-client")
    out = subprocess.run(
        [psql, postgres_url, "-Atc", "SELECT current_database(), current_setting('port')"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    database, port = out.split("|")
    assert database.startswith("t")
    assert port != "5432"  # never the machine's own server


def test_a_missing_binary_says_how_to_install_it() -> None:
    with pytest.raises(ServiceMissing, match="apt-get install -y no-such-package"):
        find_binary("no-such-server-binary", "no-such-package")


def test_postgres_restart_keeps_its_data() -> None:
    server = PostgresServer()
    try:
        server.start()
        url = server.create_database("kept")
        server.stop()
        server.start()
        psql = find_binary("psql", "postgresql-client")
        done = subprocess.run(
            [psql, url, "-Atc", "SELECT 1"], capture_output=True, text=True, check=False
        )
        assert done.stdout.strip() == "1", done.stderr
    finally:
        server.close()
