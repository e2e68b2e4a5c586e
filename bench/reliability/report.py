"""Write a run's results: JSON (everything) and Markdown (the table docs/reliability.md
quotes), under ``.data/reliability/results/`` unless told otherwise."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def machine() -> dict[str, str]:
    import psutil

    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": str(os.cpu_count()),
        "cpu_model": model,
        "memory_gb": f"{psutil.virtual_memory().total / 2**30:.1f}",
        "python": platform.python_version(),
        "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def write(out_dir: Path, name: str, data: dict[str, Any], markdown: list[str]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (out_dir / f"{name}-{stamp}.json").write_text(json.dumps(data, indent=2, default=str))
    path = out_dir / f"{name}-{stamp}.md"
    path.write_text("\n".join(markdown) + "\n")
    return path


def faults_markdown(results: list[dict[str, Any]], host: dict[str, str], took: float) -> list[str]:
    lines = [
        f"Fault run of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {took / 60:.1f} min, on "
        f"{host['cores']} cores ({host['cpu_model']}, {host['memory_gb']} GB), load average "
        f"at the end {host['load_average']}.",
        "",
        "| scenario | result | recovery | figures | exact counts | check_invariants |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        recovery = ", ".join(
            f"{k.removesuffix('_s').replace('_', ' ')} {v} s"
            for k, v in r.items()
            if k.endswith("_s") and isinstance(v, int | float)
        )
        figures = ", ".join(
            f"{k.replace('_', ' ')} {v}"
            for k, v in r.items()
            if k not in {"name", "ok", "failures", "counts", "invariants", "error"}
            and not k.endswith("_s")
        )
        exact = "yes" if not r.get("failures") else "NO: " + "; ".join(r["failures"])
        inv = r.get("invariants", {})
        lines.append(
            f"| {r['name']} | {'pass' if r.get('ok') else 'FAIL'} | {recovery} | {figures} "
            f"| {exact} | {'clean' if inv.get('clean') else 'BROKEN ' + str(inv.get('broken'))} |"
        )
    return lines
