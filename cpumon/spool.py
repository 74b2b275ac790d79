"""The on-disk spool: samples that could not be uploaded yet, kept across restarts.

Layout, under the spool dir::

    <run id>/run.json                       which run, which API and user, start and end time
    <run id>/seg-<first seq>-<last seq>.json  one batch of samples each
    <run id>/.lock                          held (flock) by the cpumon process that owns the run
    corrupt/                                files that failed their checks, kept for a human to look at
    rejected/<run id>/                      runs the API refused (deleted or finished elsewhere)

Every file is written to a temporary name, fsynced, then renamed into place, so a crash
leaves either the old state or the new one, never half a file under a real name; a write
that fails (a full disk) removes its temporary file. Samples are private: directories are
0700 and files 0600, whatever the umask. Every
file carries a SHA-256 of its body, so a file damaged later (disk error, an editor, a
half-copied backup) is detected on reading, reported in one line, moved to corrupt/ and
skipped; the other files of the run are still delivered.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cpumon.sample import Sample

FORMAT = 1
META_NAME = "run.json"
LOCK_NAME = ".lock"
CORRUPT_DIR = "corrupt"
REJECTED_DIR = "rejected"
_SEGMENT_RE = re.compile(r"^seg-(\d{12})-(\d{12})\.json$")
_RUN_ID_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,63}$")


class SpoolCorruptionError(Exception):
    """A spool file that cannot be trusted: unreadable, truncated, edited or of another run."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class NewRun:
    """What creating a run at the API takes beyond its name and start: kept while the API has not answered."""

    hostname: str
    interval_s: float
    threshold_percent: float

    def to_json(self) -> dict[str, Any]:
        return {"hostname": self.hostname, "interval_s": self.interval_s, "threshold_percent": self.threshold_percent}

    @classmethod
    def from_json(cls, body: Any) -> NewRun:
        if not isinstance(body, dict):
            raise ValueError("the run to create must be an object")
        try:
            return cls(_text(body["hostname"]), _number(body["interval_s"]), _number(body["threshold_percent"]))
        except KeyError as exc:
            raise ValueError(f"missing {exc.args[0]!r}") from None


@dataclass(frozen=True)
class RunMeta:
    """What the next start needs to deliver a run's samples and finish it.

    `run_id` names the run's spool directory. For a run started while the API answered it is the
    API's id; a run started while the API was away gets a local id, `create` holds what creating it
    at the API takes, and once created `created_as` holds the API's id.
    """

    run_id: str
    api_url: str
    username: str
    name: str
    started_at: dt.datetime
    ended_at: dt.datetime | None  # None while the run is being recorded (or its agent died)
    create: NewRun | None = None  # not created at the API yet
    created_as: str | None = None  # the API's id of a run that was recorded before the API answered

    @property
    def api_id(self) -> str | None:
        """The run's id at the API; None while it has not been created there."""
        if self.create is not None:
            return None
        return self.created_as or self.run_id

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "run_id": self.run_id,
            "api_url": self.api_url,
            "username": self.username,
            "name": self.name,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
        }
        # Written only when set, so files of runs created at start stay readable by older agents.
        if self.create is not None:
            body["create"] = self.create.to_json()
        if self.created_as is not None:
            body["created_as"] = self.created_as
        return body

    @classmethod
    def from_json(cls, body: Any) -> RunMeta:
        if not isinstance(body, dict):
            raise ValueError("run metadata must be an object")
        try:
            ended = body["ended_at"]
            create = body.get("create")
            created_as = body.get("created_as")
            meta = cls(
                run_id=_text(body["run_id"]),
                api_url=_text(body["api_url"]),
                username=_text(body["username"]),
                name=_text(body["name"]),
                started_at=_aware(body["started_at"]),
                ended_at=None if ended is None else _aware(ended),
                create=None if create is None else NewRun.from_json(create),
                created_as=None if created_as is None else _text(created_as),
            )
        except KeyError as exc:
            raise ValueError(f"missing {exc.args[0]!r}") from None
        for run_id in (meta.run_id, meta.created_as):
            if run_id is not None and not _RUN_ID_RE.match(run_id):
                raise ValueError(f"bad run id {run_id!r}")
        return meta


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _aware(value: Any) -> dt.datetime:
    when = dt.datetime.fromisoformat(_text(value))
    if when.tzinfo is None:
        raise ValueError(f"time {value!r} has no time zone")
    return when.astimezone(dt.UTC)


def _canonical(body: Any) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def encode_file(kind: str, body: Any) -> bytes:
    """The bytes of a spool file: the body with its kind, format version and checksum."""
    envelope = {"format": FORMAT, "kind": kind, "sha256": hashlib.sha256(_canonical(body)).hexdigest()}
    envelope["body"] = body
    return json.dumps(envelope, separators=(",", ":"), allow_nan=False).encode() + b"\n"


def decode_file(path: Path, data: bytes, kind: str) -> Any:
    """The body of a spool file, after checking it; SpoolCorruptionError otherwise."""
    try:
        envelope = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise SpoolCorruptionError(path, "not valid JSON (truncated or damaged)") from None
    if not isinstance(envelope, dict) or "body" not in envelope:
        raise SpoolCorruptionError(path, "not a cpumon spool file")
    if envelope.get("format") != FORMAT:
        raise SpoolCorruptionError(path, f"unknown spool format {envelope.get('format')!r}")
    if envelope.get("kind") != kind:
        raise SpoolCorruptionError(path, f"expected a {kind} file, found {envelope.get('kind')!r}")
    body = envelope["body"]
    try:
        digest = hashlib.sha256(_canonical(body)).hexdigest()
    except ValueError:
        raise SpoolCorruptionError(path, "contains values JSON cannot hold") from None
    if digest != envelope.get("sha256"):
        raise SpoolCorruptionError(path, "checksum mismatch (the file was changed or damaged)")
    return body


FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> None:
    """Create `path` (and missing parents) readable by this user only; tighten it if it exists."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o777 != DIR_MODE:
        path.chmod(DIR_MODE)


def open_private(path: Path, flags: int) -> int:
    """os.open with mode 0600 for a new file (the umask cannot widen it, and chmod fixes an old one)."""
    fd = os.open(path, flags | os.O_CLOEXEC, FILE_MODE)
    if os.fstat(fd).st_mode & 0o777 != FILE_MODE:
        os.fchmod(fd, FILE_MODE)
    return fd


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the whole new one.

    On failure (ENOSPC ...) the temporary file is removed: a full disk must not fill up with halves.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with os.fdopen(open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; some filesystems refuse to open a directory: fine.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def segment_name(first_seq: int, last_seq: int) -> str:
    return f"seg-{first_seq:012d}-{last_seq:012d}.json"


def segment_seqs(path: Path) -> tuple[int, int] | None:
    """(first seq, last seq) from a segment's name, or None if it is not a segment name."""
    match = _SEGMENT_RE.match(path.name)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2))


class RunSpool:
    """One run's directory in the spool."""

    def __init__(self, root: Path, run_id: str) -> None:
        if not _RUN_ID_RE.match(run_id):
            raise ValueError(f"bad run id {run_id!r}")
        self.root = root
        self.run_id = run_id
        self.path = root / run_id
        self._lock_handle: IO[bytes] | None = None

    def exists(self) -> bool:
        return self.path.is_dir()

    def lock(self) -> bool:
        """Take the run's lock without waiting; False if another process holds it."""
        if self._lock_handle is not None:
            return True
        private_dir(self.root)
        private_dir(self.path)
        handle = os.fdopen(open_private(self.path / LOCK_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._lock_handle = handle
        return True

    def unlock(self) -> None:
        if self._lock_handle is not None:
            self._lock_handle.close()  # closing the file releases the flock
            self._lock_handle = None

    def write_meta(self, meta: RunMeta) -> None:
        private_dir(self.root)
        private_dir(self.path)
        write_atomically(self.path / META_NAME, encode_file("run", meta.to_json()))

    def read_meta(self) -> RunMeta:
        path = self.path / META_NAME
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SpoolCorruptionError(path, f"cannot read: {exc.strerror or exc}") from None
        body = decode_file(path, data, "run")
        try:
            meta = RunMeta.from_json(body)
        except ValueError as exc:
            raise SpoolCorruptionError(path, str(exc)) from None
        if meta.run_id != self.run_id:
            raise SpoolCorruptionError(path, f"belongs to run {meta.run_id}, not {self.run_id}")
        return meta

    def write_segment(self, samples: Sequence[Sample]) -> Path:
        if not samples:
            raise ValueError("a segment holds at least one sample")
        private_dir(self.root)
        private_dir(self.path)
        path = self.path / segment_name(samples[0].seq, samples[-1].seq)
        body = {"run_id": self.run_id, "samples": [sample.to_row() for sample in samples]}
        write_atomically(path, encode_file("samples", body))
        return path

    def read_segment(self, path: Path) -> list[Sample]:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SpoolCorruptionError(path, f"cannot read: {exc.strerror or exc}") from None
        body = decode_file(path, data, "samples")
        if not isinstance(body, dict) or body.get("run_id") != self.run_id:
            raise SpoolCorruptionError(path, "belongs to another run")
        rows = body.get("samples")
        if not isinstance(rows, list) or not rows:
            raise SpoolCorruptionError(path, "holds no samples")
        try:
            samples = [Sample.from_row(row) for row in rows]
        except ValueError as exc:
            raise SpoolCorruptionError(path, str(exc)) from None
        if segment_seqs(path) != (samples[0].seq, samples[-1].seq):
            raise SpoolCorruptionError(path, "its name does not match its samples")
        return samples

    def segments(self) -> list[Path]:
        """Segment files, oldest samples first."""
        if not self.path.is_dir():
            return []
        found = [path for path in self.path.iterdir() if segment_seqs(path) is not None]
        return sorted(found, key=lambda path: segment_seqs(path) or (0, 0))

    def leftovers(self) -> list[Path]:
        """Files that should not be there: half-written temporaries and unknown names."""
        if not self.path.is_dir():
            return []
        expected = {META_NAME, LOCK_NAME}
        return sorted(path for path in self.path.iterdir() if path.name not in expected and segment_seqs(path) is None)

    def remove_segment(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def quarantine(self, path: Path) -> Path:
        """Move a bad file to corrupt/ (kept for inspection, never read again); returns where."""
        target_dir = self.root / CORRUPT_DIR
        private_dir(target_dir)
        target = free_name(target_dir / f"{self.run_id}-{path.name.lstrip('.')}")
        path.replace(target)
        return target

    def move_to_rejected(self) -> Path:
        target_dir = self.root / REJECTED_DIR
        private_dir(target_dir)
        target = free_name(target_dir / self.run_id)
        self.path.replace(target)
        return target

    def remove(self) -> None:
        """Delete the run's directory: everything in it has been delivered."""
        shutil.rmtree(self.path, ignore_errors=True)


def local_run_id(now_ns: int | None = None) -> str:
    """A UUIDv7 made here, for the spool of a run the API has not created yet.

    Time-ordered like the API's ids, so `Spool.run_dirs` keeps delivering the oldest run first.
    """
    millis = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    value = (millis & (2**48 - 1)) << 80 | secrets.randbits(80)
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def free_name(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.{n}")
        n += 1
    return candidate


class Spool:
    """The spool directory: one RunSpool per run with samples waiting."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def run(self, run_id: str) -> RunSpool:
        return RunSpool(self.root, run_id)

    def run_dirs(self) -> Iterator[RunSpool]:
        """Every run directory, oldest first (run ids are time-ordered UUIDv7s)."""
        if not self.root.is_dir():
            return
        for path in sorted(self.root.iterdir()):
            if path.is_dir() and path.name not in (CORRUPT_DIR, REJECTED_DIR) and _RUN_ID_RE.match(path.name):
                yield RunSpool(self.root, path.name)
