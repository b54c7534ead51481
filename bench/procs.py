"""The processes a benchmark runs and what it reads about them from /proc.

Every figure is taken per process (CPU from ``/proc/<pid>/stat``, memory from
``/proc/<pid>/status``), since the load generator, hookwire, the receiver and
PostgreSQL all share the machine's few cores.
"""

from __future__ import annotations

import asyncio
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from hookwire import __version__

HOOKWIRE = str(Path(sys.executable).parent / "hookwire")
CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0
READY_POLL_SECONDS = 0.05
LOG_TAIL_CHARS = 3000


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads) so far."""
    with open(f"/proc/{pid}/stat") as stat:
        text = stat.read()
    # Fields after the command name, which is in parentheses and may hold spaces;
    # utime and stime are fields 14 and 15 of proc(5), here at 11 and 12.
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_SECOND


def rss_megabytes(pid: int) -> float:
    """Resident memory of process ``pid`` (VmRSS), in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"process {pid} reports no VmRSS")


def postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL process of this machine (server, backends, WAL writer)."""
    total = 0.0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/comm") as comm:
                if comm.read().strip() != "postgres":
                    continue
            total += cpu_seconds(int(entry.name))
        except (OSError, ValueError):
            continue  # it ended meanwhile
    return total


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent busy (all cores, every process) so far."""
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (
            int(v) for v in stat.readline().split()[1:9]
        )
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS_PER_SECOND


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class Service:
    """A child process of the benchmark, with its output in a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    url: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def rss(self) -> float:
        return rss_megabytes(self.pid)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-LOG_TAIL_CHARS:]

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
            )

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not stopped within STOP_TIMEOUT_SECONDS."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
            while self.process.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(READY_POLL_SECONDS)
            if self.process.poll() is None:
                self.process.kill()
        await asyncio.to_thread(self.process.wait)


def spawn(name: str, command: list[str], env: dict[str, str], workdir: Path) -> Service:
    log = workdir / f"{name}-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=workdir
        )
    return Service(name, process, log)


def hookwire_env(
    database_url: str, secret_key: str, admin_key: str, workdir: Path, **settings: str
) -> dict[str, str]:
    """The environment of a hookwire process: ``settings`` are HOOKWIRE_* names in lowercase."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKWIRE_")}
    env.update(
        HOOKWIRE_DATABASE_URL=database_url,
        HOOKWIRE_SECRET_KEY=secret_key,
        HOOKWIRE_ADMIN_KEY=admin_key,
        HOOKWIRE_ALLOW_PRIVATE_NETWORKS="true",
        HOOKWIRE_DATA_DIR=str(workdir),
    )
    env.update({f"HOOKWIRE_{name.upper()}": value for name, value in settings.items()})
    return env


async def start_serve(env: dict[str, str], workdir: Path) -> Service:
    """``hookwire serve`` on a free port, once ``/healthz`` answers."""
    port = free_port()
    service = spawn("serve", [HOOKWIRE, "serve"], {**env, "HOOKWIRE_PORT": str(port)}, workdir)
    service.url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session, asyncio.timeout(START_TIMEOUT_SECONDS):
            while True:
                service.check_alive()
                try:
                    async with session.get(f"{service.url}/healthz") as response:
                        if response.status == 200:
                            return service
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(READY_POLL_SECONDS)
    except BaseException:
        await service.stop()
        raise


async def start_worker(env: dict[str, str], workdir: Path, name: str = "worker") -> Service:
    """``hookwire worker``, once it says it is delivering."""
    service = spawn(name, [HOOKWIRE, "worker"], env, workdir)
    try:
        async with asyncio.timeout(START_TIMEOUT_SECONDS):
            while "is delivering" not in service.log.read_text(errors="replace"):
                service.check_alive()
                await asyncio.sleep(READY_POLL_SECONDS)
    except BaseException:
        await service.stop()
        raise
    return service


@dataclass
class CpuMeter:
    """CPU seconds spent by named processes (and the whole machine) between start and stop."""

    pids: dict[str, int]
    with_postgres: bool = False
    seconds: dict[str, float] = field(default_factory=dict)
    _before: dict[str, float] = field(default_factory=dict)
    _wall: float = 0.0

    def _read(self) -> dict[str, float]:
        values = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        if self.with_postgres:
            values["postgres"] = postgres_cpu_seconds()
        # The machine's total shows what else competed for the cores meanwhile.
        values["machine"] = machine_busy_seconds()
        return values

    def start(self) -> CpuMeter:
        self._before = self._read()
        self._wall = time.monotonic()
        return self

    def stop(self) -> dict[str, float]:
        after = self._read()
        self.seconds = {name: after[name] - self._before[name] for name in after}
        self.seconds["wall"] = time.monotonic() - self._wall
        return self.seconds


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as meminfo:
        memory_kb = int(meminfo.readline().split()[1])
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "nproc": os.cpu_count(),
        "cpuModel": model,
        "memoryGB": round(memory_kb / 1024**2, 1),
        "loadAverage1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "hookwire": __version__,
        "commit": _git("rev-parse", "--short", "HEAD"),
        "uncommittedChanges": bool(_git("status", "--porcelain", "--untracked-files=no")),
    }


def _git(*args: str) -> str:
    try:
        result = subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return result.stdout.strip()
