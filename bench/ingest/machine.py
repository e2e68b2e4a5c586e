"""What the numbers were measured on: cores, CPU model, memory, PostgreSQL, load."""

from __future__ import annotations

import os
import platform
import subprocess

import psutil


def describe(pg_conn) -> dict[str, str]:  # type: ignore[no-untyped-def]
    model = "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    settings = {}
    for name in ("server_version", "synchronous_commit", "fsync", "shared_buffers", "max_wal_size"):
        settings[name] = pg_conn.execute(f"SHOW {name}").fetchone()[0]
    return {
        "cores": str(os.cpu_count()),
        "cpu_model": model,
        "memory_gb": f"{psutil.virtual_memory().total / 2**30:.1f}",
        "python": platform.python_version(),
        "postgres": settings["server_version"].split()[0],
        "pg_durability": (
            f"fsync={settings['fsync']}, synchronous_commit={settings['synchronous_commit']}"
        ),
        "pg_memory": f"shared_buffers={settings['shared_buffers']}",
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def process_cpu_seconds(pids: list[int]) -> float:
    """User+system CPU of these processes and all their descendants (alive ones)."""
    total = 0.0
    seen: set[int] = set()
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for proc in procs:
            if proc.pid in seen:
                continue
            seen.add(proc.pid)
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                continue
    return total


def postmaster_pid(pg_conn) -> int:  # type: ignore[no-untyped-def]
    """The postmaster serving this connection (its children are the backends)."""
    backend = pg_conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    return psutil.Process(backend).ppid()
