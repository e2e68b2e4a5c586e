"""Sample the web workers with py-spy during a scenario and say where their time goes.

``start``/``stop`` wrap ``py-spy record --subprocesses --format raw`` (collapsed stacks, one
line per distinct stack with its sample count; idle waits are not sampled). ``summary`` sorts
the samples into the buckets the issue talks about, by the first Tally or library frame that
names them. ``python -m bench.ingest.profile FILE [--busy]`` prints the summary of a recorded file.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
from pathlib import Path

# (bucket, substrings of a frame): the first bucket with a frame on the stack wins.
BUCKETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("API-key authentication", ("ApiKeyAuthentication", "api_key_authenticate")),
    ("rate limit", ("throttl", "Throttle")),
    ("rollup kick", ("rollup_kick",)),
    ("read + decode body", ("read_body", "decode_body")),
    ("per-event validation", ("validate (metering/ingest/wire.py", "EventValidator")),
    ("store: COPY + upsert", ("insert_events",)),
    ("customer lookup", ("resolve_customers",)),
    ("reviews (conflicts, rejections)", ("_save_reviews",)),
    ("outcomes", ("_store (metering/ingest/service.py",)),
    ("commit", ("commit",)),
    ("render response", ("render", "Renderer", "finalize_response")),
    ("Django/DRF request handling", ("django/", "rest_framework/")),
    ("gunicorn", ("gunicorn/",)),
)


def start(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    spy = shutil.which("py-spy")
    if spy is None:
        print("[profile] py-spy not installed (pip install -e '.[dev]')", flush=True)
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--subprocesses", "--format", "raw", "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def summary(path: Path, *, busy: bool = False) -> list[tuple[str, float]]:
    """(bucket, share of samples), largest first. ``busy`` leaves out the samples in gunicorn
    alone (a worker waiting for the next request), so shares are of request handling."""
    counts: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        bucket = "other"
        for name, needles in BUCKETS:
            if any(needle in frame for frame in frames for needle in needles):
                bucket = name
                break
        counts[bucket] = counts.get(bucket, 0) + n
    if busy:
        total -= counts.pop("gunicorn", 0)
    return sorted(((k, v / total) for k, v in counts.items()), key=lambda kv: -kv[1])


if __name__ == "__main__":
    for name, share in summary(Path(sys.argv[1]), busy="--busy" in sys.argv):
        print(f"{share:6.1%}  {name}")
