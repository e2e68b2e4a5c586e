"""``python -m bench.reliability [--scenario NAME ...] [--soak --minutes N]`` (or
``bin/tally reliability ...``): fault injection, or the soak, against a stack of its own.
Exits 1 when any scenario fails its exact counts or check_invariants. docs/reliability.md."""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench.reliability.stack import ROOT, Stack, log

DATA = ROOT / ".data" / "reliability"


def _run_faults(stack: Stack, names: list[str], customers: int) -> list[dict[str, Any]]:
    from django.db import connections

    from bench.reliability import world as world_module
    from bench.reliability.scenarios import SCENARIOS

    world = world_module.build(stack, customers=customers)
    results = []
    for name in names:
        log(f"scenario {name}")
        # This process's own connections may have died with a PostgreSQL restart: Django
        # reconnects on the next query only after a close (as a web request or task would).
        connections.close_all()
        started = time.monotonic()
        try:
            result = SCENARIOS[name](stack, world)
        except Exception as exc:
            traceback.print_exc()
            result = {"ok": False, "error": repr(exc)[:500], "failures": [repr(exc)[:300]]}
            _heal(stack)
        result = {"name": name, **result, "took_s": round(time.monotonic() - started, 1)}
        log(f"scenario {name}: {'pass' if result['ok'] else 'FAIL'} {result.get('failures')}")
        results.append(result)
    return results


def _heal(stack: Stack) -> None:
    """After a scenario crashed: Stripe answering again, the processes running."""
    stack.proxy.set_mode("ok")
    for name in ("web", "worker", "beat"):
        if name not in stack.procs or stack.procs[name].poll() is not None:
            stack.procs.pop(name, None)
            stack.start(name)


def main(argv: list[str] | None = None) -> int:
    from bench.reliability.scenarios import SCENARIOS

    parser = argparse.ArgumentParser(prog="python -m bench.reliability")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=sorted(SCENARIOS),
        help="run only these (repeatable); default: all, in order",
    )
    parser.add_argument("--soak", action="store_true", help="run the soak instead")
    parser.add_argument("--minutes", type=float, default=30.0, help="soak length")
    parser.add_argument("--customers", type=int, default=40)
    parser.add_argument("--out", type=Path, default=DATA / "results")
    args = parser.parse_args(argv)
    from bench.reliability import report

    started = time.monotonic()
    with Stack(DATA) as stack:
        log(f"stack up: web 127.0.0.1:{stack.port}, processes {stack.pids()}")
        if args.soak:
            from bench.reliability.soak import soak

            data = soak(stack, minutes=args.minutes, customers=args.customers)
            data["machine"] = report.machine()
            path = report.write(args.out, "soak", data, data.pop("markdown"))
            ok = bool(data["ok"])
        else:
            names = args.scenario or list(SCENARIOS)
            results = _run_faults(stack, names, args.customers)
            host = report.machine()
            took = time.monotonic() - started
            md = report.faults_markdown(results, host, took)
            path = report.write(args.out, "faults", {"machine": host, "results": results}, md)
            ok = all(r["ok"] for r in results)
            print("\n".join(md))
    log(f"results in {path} ({'all clean' if ok else 'FAILURES'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
