"""Benchmark: CPU seconds a download adds to an invoice PDF (issue 21): the payment-status page
rendered at download time and its incremental append after the stored bytes, against the
stored document's own render, for 10- and 200-line invoices, in one run.

    bin/tally exec -- python bench/invoice_download.py [--samples 30]

In-process, no database (unsaved invoices, as ``bench/invoice_pdf.py``). Prints JSON and
replaces the "Invoice download" section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BEGIN, END = "<!-- invoice-download-benchmark:begin -->", "<!-- invoice-download-benchmark:end -->"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billingsite.settings")
    django.setup()
    from bench.invoice_pdf import Line, cpu, invoice
    from invoicing.services.invoice_pdfs import with_status_page
    from invoicing.services.pdf import invoice_pdf_render, payment_status_pdf_render

    load = os.getloadavg()[0]
    results: dict[str, dict[str, float]] = {}
    sizes: dict[str, int] = {}
    for size in (10, 200):
        rows = [Line(f"Usage line {n}", Decimal(n), Decimal("1.00")) for n in range(size)]
        doc = invoice("Acme GmbH", size)
        stored = invoice_pdf_render(doc, rows)
        page = payment_status_pdf_render(doc)
        sizes[f"{size} lines"] = len(stored)
        results[f"{size} lines: render the stored PDF (once, at issue)"] = cpu(
            lambda d=doc, r=rows: invoice_pdf_render(d, r), args.samples
        )
        results[f"{size} lines: render the status page"] = cpu(
            lambda d=doc: payment_status_pdf_render(d), args.samples
        )
        results[f"{size} lines: append it (pypdf, incremental)"] = cpu(
            lambda s=stored, p=page: with_status_page(s, p), args.samples
        )
    report = {"samples": args.samples, "load_average": load, "results": results, "bytes": sizes}
    print(json.dumps(report, indent=2))
    write(report)


def write(report: dict) -> None:  # type: ignore[type-arg]
    res = report["results"]
    rows = "\n".join(
        f"| {what} | {r['p50_ms']:.1f} ms | {r['max_ms']:.1f} ms |" for what, r in res.items()
    )
    ratios = []
    for size in (10, 200):
        issued = res[f"{size} lines: render the stored PDF (once, at issue)"]["p50_ms"]
        added = (
            res[f"{size} lines: render the status page"]["p50_ms"]
            + res[f"{size} lines: append it (pypdf, incremental)"]["p50_ms"]
        )
        ratios.append(f"{size} lines: {added / issued:.2f}x")
    section = f"""{BEGIN}
## Invoice download with the payment status (`bench/invoice_download.py`, issue 21)

`bin/tally exec -- python bench/invoice_download.py --samples {report["samples"]}` on 2 cores,
run {datetime.now(UTC):%Y-%m-%dT%H:%M}+00:00, load average {report["load_average"]:.1f} at the
start (other work shares the machine). CPU time (`time.process_time`) per operation, in-process
and warm, the same run for every row:

| what | p50 CPU | max CPU |
| --- | --- | --- |
{rows}

A download costs the status page plus the append, as a share of rendering the issued document
(which happens once per invoice): {", ".join(ratios)}. The append rewrites no page of
the stored document: it reads the stored file's cross-reference table and writes the new
page, its fonts and the changed page tree after the stored bytes, so its cost grows slowly
with the invoice's size. The status page costs about what a short invoice does because it
embeds its own subset of the DejaVu fonts (fpdf2's cost, see "Invoice PDF"); downloads are
rare next to views, so it is rendered on each one rather than cached (a cached page would
show a stale status, which is what this change removes).
{END}"""
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text()
    if BEGIN in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)


if __name__ == "__main__":
    main()
