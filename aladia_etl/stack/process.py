"""Processes started by `aladia up`: pid files checked against the process itself, log files, graceful stop,
port checks.

A pid file alone proves nothing: after a crash or a reboot its number may belong to any process, and as root
`os.kill(-1, …)` signals every process on the machine. So aladia records, when it starts a process, the boot id, the
process's start time and its command line, and uses (or signals) a pid only while all three still match."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aladia_etl.core.errors import PortInUse, quote
from aladia_etl.core.files import atomic_write
from aladia_etl.core.progress import SILENT, Reporter


def port_is_open(host: str, port: int, timeout: float = 0.3) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_is_bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def ensure_port_free(component: str, host: str, port: int, setting: str) -> None:
    if port_is_open(host, port) or not port_is_bindable(host, port):
        raise PortInUse(
            f"cannot start {component}: port {port} on {host} is already in use",
            f"stop the process that holds it, or choose another port with {setting}",
        )


# The kernel's PID_MAX_LIMIT: no process ever has a larger pid.
PID_MAX = 4_194_304
BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")
# A record holds a JVM's whole command line (its classpath): far below this; anything larger is not aladia's.
_MAX_FILE_BYTES = 1024 * 1024


def plausible_pid(pid: object) -> bool:
    """Whether `pid` could be a process aladia started: never 0 (the caller's own process group), negative (a
    group, or with -1 every process on the machine), 1 (init), or beyond the kernel's limit."""
    return isinstance(pid, int) and not isinstance(pid, bool) and 1 < pid <= PID_MAX


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (says nothing of *which* process: see ProcessRecord)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid <= PID_MAX:
        return False  # kill(0 or -n, 0) would answer for a whole process group
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    _reap(pid)
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def _reap(pid: int) -> None:
    """A zombie child still answers kill(0); reap it if it is ours."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def boot_id() -> str | None:
    """Changes at every boot: a record from another boot names a process that no longer exists."""
    try:
        return BOOT_ID_FILE.read_text().strip() or None
    except OSError:
        return None


def process_start_ticks(pid: int) -> int | None:
    """When the process started, in clock ticks since boot (/proc/<pid>/stat field 22); None when there is no such
    process, or only its zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            text = fh.read().decode("utf-8", errors="replace")
        fields = text.rsplit(")", 1)[1].split()  # the command name before ")" may hold spaces and parentheses
        if fields[0] in ("Z", "X"):
            return None
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def process_cmdline(pid: int) -> tuple[str, ...] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    parts = raw.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return tuple(os.fsdecode(part) for part in parts)


def _settled_cmdline(pid: int, patience: float = 0.25) -> tuple[str, ...] | None:
    """The command line, waiting out the moments a live process shows none: inside exec (a process just started)
    and while it exits."""
    deadline = time.monotonic() + patience
    while True:
        cmdline = process_cmdline(pid)
        if cmdline or time.monotonic() >= deadline or process_start_ticks(pid) is None:
            return cmdline
        time.sleep(0.01)


def runs_command(cmdline: Sequence[str], argv: Sequence[str]) -> bool:
    """Whether a process's command line is that of `argv`: the arguments aladia passed, after a program. The program
    itself may differ: a launcher (a shell shim in front of `java`) execs the real one with the same arguments."""
    args = tuple(argv[1:])
    if not args:
        return bool(cmdline) and bool(argv) and Path(cmdline[0]).name == Path(argv[0]).name
    return len(cmdline) > len(args) and tuple(cmdline[-len(args) :]) == args


@dataclass(frozen=True)
class ProcessRecord:
    """What aladia records of a process it started, to recognise it later (a pid alone may name any process after
    a crash or a reboot): the boot, the start time, which the kernel keeps for the life of the process, and the
    command aladia ran."""

    pid: int
    boot_id: str
    start_ticks: int
    cmdline: tuple[str, ...]

    @classmethod
    def of_running(cls, pid: int, argv: Sequence[str]) -> ProcessRecord:
        """The record of the process just started as `pid` with `argv`; one that never matches if it is gone."""
        ticks = process_start_ticks(pid)
        cmdline = tuple(os.fsdecode(os.fspath(arg)) for arg in argv)
        return cls(pid, boot_id() or "", -1 if ticks is None else ticks, cmdline)

    def to_json(self) -> str:
        data = {"pid": self.pid, "boot_id": self.boot_id, "start_ticks": self.start_ticks, "cmdline": self.cmdline}
        return json.dumps(data) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ProcessRecord:
        """Raises ValueError for anything but a well-formed record."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        pid, boot, ticks, cmdline = (data.get(k) for k in ("pid", "boot_id", "start_ticks", "cmdline"))
        if not (isinstance(pid, int) and not isinstance(pid, bool) and isinstance(boot, str)):
            raise ValueError("pid or boot id missing")
        if not (isinstance(ticks, int) and not isinstance(ticks, bool)):
            raise ValueError("start time missing")
        if not (isinstance(cmdline, list) and cmdline and all(isinstance(a, str) for a in cmdline)):
            raise ValueError("command line missing")
        return cls(pid, boot, ticks, tuple(cmdline))

    def mismatch(self) -> str | None:
        """Why the process now running as `pid` is not the recorded one; None when it is."""
        if not plausible_pid(self.pid):
            return f"{quote(self.pid)} is not a pid aladia could have started"
        current_boot = boot_id()
        if current_boot is None:
            return "this system has no /proc/sys/kernel/random/boot_id to check the process against"
        if self.boot_id != current_boot:
            return f"it was written before the machine last booted (process {self.pid} is not the one started)"
        ticks = process_start_ticks(self.pid)
        if ticks is None:
            return f"process {self.pid} is not running"
        if ticks != self.start_ticks:
            return f"pid {self.pid} now belongs to another process (it started at another time)"
        cmdline = _settled_cmdline(self.pid)
        if cmdline is None or not runs_command(cmdline, self.cmdline):
            shown = " ".join(cmdline) if cmdline else "no command line"
            return f"pid {self.pid} now belongs to another process ({quote(shown)})"
        return None


def _read_small(path: Path) -> str | None:
    """The text of a pid or record file (None when it is missing or unreadable); a file too large to be aladia's
    reads as a note saying so."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(_MAX_FILE_BYTES + 1)
    except OSError:
        return None
    if len(data) > _MAX_FILE_BYTES:
        return f"<{path.name} is larger than {_MAX_FILE_BYTES} bytes>"
    return data.decode("utf-8", errors="replace")


def _unverified(name: str, pid_text: str | None, why: str) -> str:
    """Why a pid file cannot be trusted, with the way out when its pid is a live process."""
    if pid_text is None:
        return why
    text = pid_text.strip()
    try:
        pid = int(text)
    except ValueError:
        return f"{why}, and it holds {quote(text)}, not a pid"
    if not plausible_pid(pid):
        return f"{why}, and {quote(pid)} is not a pid aladia could have started"
    if process_start_ticks(pid) is None:
        return f"{why}, and process {pid} is not running"
    program = (process_cmdline(pid) or ("?",))[0]
    return (
        f"{why}: process {pid} ({quote(Path(program).name)}) is not verified as aladia's {name}; "
        f"if it is, stop it yourself (kill {pid})"
    )


@dataclass
class ManagedProcess:
    """A long-running process owned by aladia. Its pid file holds the pid (for people and scripts); the record
    beside it (`<pid file>.json`) identifies the process. A pid is used, and signalled, only while the process
    running under it still matches the record; otherwise the pid file is stale and is removed, with a note."""

    name: str
    pid_file: Path
    log_file: Path
    reporter: Reporter = field(default=SILENT, repr=False, compare=False)

    @property
    def record_file(self) -> Path:
        return self.pid_file.with_name(self.pid_file.name + ".json")

    def running(self) -> ProcessRecord | None:
        """The record of the process, when it still runs as recorded; None otherwise (a stale pid file is removed)."""
        seen = {path: _read_small(path) for path in (self.record_file, self.pid_file)}
        record_text, pid_text = seen[self.record_file], seen[self.pid_file]
        if record_text is None and pid_text is None:
            return None
        problem: str | None
        if record_text is None:
            problem = _unverified(self.name, pid_text, "an older aladia wrote it without a record of the process")
        else:
            try:
                record = ProcessRecord.from_json(record_text)
            except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
                problem = _unverified(self.name, pid_text, f"its record {self.record_file.name} is unreadable")
            else:
                problem = record.mismatch()
                if problem is None:
                    return record
        for path, text in seen.items():
            # Only as read: a concurrent `aladia up` may just have written a fresh one.
            if text is not None and _read_small(path) == text:
                with contextlib.suppress(OSError):
                    path.unlink()
        self.reporter.warning(f"{self.name}: removed the stale pid file {self.pid_file}: {problem}")
        return None

    def pid(self) -> int | None:
        record = self.running()
        return record.pid if record is not None else None

    def is_running(self) -> bool:
        return self.running() is not None

    def start(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        user: pwd.struct_passwd | None = None,
    ) -> int:
        """Start detached (own session), output appended to the log file; `user` drops privileges."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
                start_new_session=True,
                # None: Popen's defaults (the current user)
                user=user.pw_uid if user is not None else None,
                group=user.pw_gid if user is not None else None,
                extra_groups=[] if user is not None else None,
            )
        # Popen returns once the program is exec'd: its start time is final. Record first, so that a pid file is
        # never there without the record that vouches for it.
        atomic_write(self.record_file, ProcessRecord.of_running(proc.pid, argv).to_json())
        atomic_write(self.pid_file, f"{proc.pid}\n")
        return proc.pid

    def stop(self, timeout: float = 20.0, first_signal: int = signal.SIGTERM) -> bool:
        """Stop gracefully, then forcibly after `timeout`. Returns whether a (verified) process was running."""
        record = self.running()
        if record is None:
            return False
        _signal(record, first_signal)
        if not _wait_gone(record, timeout):
            _signal(record, signal.SIGKILL, group=True)
            _wait_gone(record, 10)
        for path in (self.pid_file, self.record_file):
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        return True

    def tail(self, lines: int = 20) -> str:
        return tail_file(self.log_file, lines)


def _signal(record: ProcessRecord, sig: int, *, group: bool = False) -> None:
    """Signal the recorded process — its process group too with `group`, when it leads one (it was started in its
    own session) — and only while it is still that process."""
    if record.mismatch() is not None:
        return
    pid = record.pid
    if group:
        with contextlib.suppress(OSError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, sig)
                return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_gone(record: ProcessRecord, timeout: float) -> bool:
    """Wait until the process has exited (its pid is free, a zombie's, or another process's). Not merely until
    it stops matching its record: an exiting process loses its command line before it closes its sockets."""
    deadline = time.monotonic() + timeout
    while True:
        _reap(record.pid)
        if process_start_ticks(record.pid) != record.start_ticks:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def tail_file(path: Path, lines: int = 20) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])
