"""The files behind checkpoints: the anchor file they are appended to, and the centre's
signing key. Thin I/O around ``checkpoints.py``.

The anchor file holds one checkpoint per line (JSON Lines), only ever appended to, each
line written with one ``write`` and ``fsync``ed. A crash can leave a last line without
its newline: that torn line is skipped (the checkpoint before it still stands), and the
next append starts on a new line.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from .checkpoints import Anchored, Checkpoint, key_id
from .errors import StoreError

log = logging.getLogger("seat.audit")

_TAIL_BLOCK = 4096


@dataclass
class AnchorLines:
    """What an anchor file holds: its checkpoints, and notes on lines that are not one.
    Such a line (a crash can leave one) hides no more than deleting it would, and
    deleting a line is the one thing an anchor file cannot show; so it is reported and
    skipped, and the checkpoints around it still stand."""

    anchored: list[Anchored] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def read_anchors(path: Path) -> AnchorLines:
    """Every checkpoint in ``path``; raises ``OSError`` if it cannot be read."""
    result = AnchorLines()
    with path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            _take(result, f"{path} line {number}", raw)
    return result


def last_anchor(path: Path) -> AnchorLines:
    """Only the last checkpoint of ``path``, read from the end, so that a start does not
    read years of them; the lines after it that are not one are in ``skipped``."""
    result = AnchorLines()
    with path.open("rb") as file:
        for offset, raw in _reversed_lines(file):
            _take(result, f"{path} byte {offset}", raw)
            if result.anchored:
                break
    return result


def _take(result: AnchorLines, where: str, raw: bytes) -> None:
    if not raw.endswith(b"\n"):
        if raw:
            result.skipped.append(f"{where}: a line cut short (a crash while writing it)")
        return
    try:
        checkpoint = Checkpoint.parse(raw[:-1].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        result.skipped.append(f"{where}: not a checkpoint ({exc})")
        return
    result.anchored.append(Anchored(where, checkpoint))


def _reversed_lines(file: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """``(offset, line)`` from the last line back to the first, each with its newline
    (the last may have none)."""
    pos = file.seek(0, os.SEEK_END)
    pending = b""  # the start of the file's next line up, possibly only its end
    while pos > 0:
        start = max(0, pos - _TAIL_BLOCK)
        file.seek(start)
        data = file.read(pos - start) + pending
        pos = start
        # Before the first newline of a block may be the end of an earlier line.
        cut = data.find(b"\n") + 1 if pos > 0 else 0
        if pos > 0 and cut == 0:
            pending = data
            continue
        pending, rest = data[:cut], data[cut:]
        pieces = rest.split(b"\n")
        lines = [piece + b"\n" for piece in pieces[:-1]]
        if pieces[-1]:
            lines.append(pieces[-1])
        found: list[tuple[int, bytes]] = []
        offset = pos + cut
        for line in lines:
            found.append((offset, line))
            offset += len(line)
        yield from reversed(found)


def append_anchor(path: Path, checkpoint: Checkpoint) -> None:
    """Appends one line and ``fsync``s it (and the directory, when the file is new)."""
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        data = checkpoint.to_line().encode("utf-8") + b"\n"
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # after a torn line
        if os.write(fd, data) != len(data):
            raise OSError(f"short write to {path}")
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        fsync_dir(path.parent)


# ------------------------------------------------------------------ keys


@contextlib.contextmanager
def key_lock(path: Path, *, exclusive: bool) -> Iterator[None]:
    """Held (``exclusive``) while the signing key at ``path`` and its first checkpoint
    are made, and (shared) while a check reads the key and the newest checkpoint: two
    files cannot appear at once, so without it a check in another process could find
    the key alone, or half written, and call the checkpoints lost. ``flock`` on a file
    beside the key; the kernel lets go if its holder dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def load_signing_key(path: Path) -> Ed25519PrivateKey | None:
    """The centre's key, or None if there is none yet."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning("audit.key.readable_by_others path=%s mode=%o", path, mode)
    key = load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise StoreError("bad_key", f"{path} is not an Ed25519 private key")
    return key


def create_signing_key(path: Path, public_path: Path) -> Ed25519PrivateKey:
    """A new key, readable by its owner only, written next to its public half. Never
    replaces a key: if one appeared meanwhile, that one is returned."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        existing = load_signing_key(path)
        assert existing is not None
        return existing
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    write_public_key(public_path, key.public_key())
    fsync_dir(path.parent)
    log.info("audit.key.created path=%s key=%s", path, key_id(key.public_key()))
    return key


def write_public_key(path: Path, public: Ed25519PublicKey) -> None:
    pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_bytes(pem)
    os.replace(scratch, path)


def load_public_keys(paths: list[Path]) -> dict[str, Ed25519PublicKey]:
    keys: dict[str, Ed25519PublicKey] = {}
    for path in paths:
        try:
            key = load_pem_public_key(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise StoreError("bad_key", f"{path}: {exc}") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise StoreError("bad_key", f"{path} is not an Ed25519 public key")
        keys[key_id(key)] = key
    return keys


def fsync_dir(path: Path) -> None:
    """Makes the directory's entries durable: a file created or renamed in it is not
    there after a power cut until this returns."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
