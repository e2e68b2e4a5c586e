"""Fetch the front-end libraries the pages use (Chart.js) from the npm registry, at setup.

There is no Node.js on a fresh machine, so this is plain Python: for each package in
``vendor.lock.json`` it downloads the pinned tarball, checks it against the pinned npm
``integrity`` (sha512), and extracts only the listed files into ``billingsite/static/vendor/``
(git-ignored; collected by ``collectstatic`` like any static file). Source-map comments are
dropped from the extracted scripts: the maps are not shipped, and Django's manifest storage
would fail on a reference to a missing file.

Idempotent: a stamp file per package records the integrity it was extracted from; when the
stamp matches and the files exist, nothing is downloaded. ``bin/tally run|test`` call
``ensure_vendored()``; by hand: ``python -m billingsite.vendor [--force]``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import sys
import tarfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
LOCK = ROOT / "vendor.lock.json"
DEST = ROOT / "static" / "vendor"
TIMEOUT = 60
SOURCE_MAP = re.compile(rb"\n?//# sourceMappingURL=\S+\s*$")


class VendorError(RuntimeError):
    """A download or verification failed; the message says what to do."""


def _log(message: str) -> None:
    sys.stderr.write(f"[tally] {message}\n")
    sys.stderr.flush()


def sri_sha512(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def _stamp(package: dict[str, Any]) -> Path:
    return DEST / f".{package['name']}.integrity"


def is_current(package: dict[str, Any]) -> bool:
    stamp = _stamp(package)
    files_ok = all((DEST / target).is_file() for target in package["files"].values())
    return files_ok and stamp.is_file() and stamp.read_text().strip() == package["integrity"]


def _download(url: str) -> bytes:
    _log(f"downloading {url}")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:  # noqa: S310 (lock-file URL)
            chunks, total = [], int(response.headers.get("Content-Length") or 0)
            received = 0
            while chunk := response.read(256 * 1024):
                chunks.append(chunk)
                received += len(chunk)
            _log(f"  {received / 1024:.0f} KiB" + (f" of {total / 1024:.0f} KiB" if total else ""))
            return b"".join(chunks)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise VendorError(
            f"Could not download {url}: {exc}. The usage-page charts need it. Check the "
            "network or proxy (HTTPS_PROXY), or copy the file named in "
            f"{LOCK.name} into {DEST} by hand and re-run."
        ) from exc


def vendor_package(package: dict[str, Any]) -> None:
    data = _download(package["tarball"])
    actual = sri_sha512(data)
    if actual != package["integrity"]:
        raise VendorError(
            f"{package['name']} {package['version']}: integrity mismatch "
            f"(expected {package['integrity']}, got {actual}); refusing to use it."
        )
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member_name, target in package["files"].items():
            member = tar.getmember(member_name)
            handle = tar.extractfile(member)
            if handle is None:
                raise VendorError(f"{member_name} is not a file in {package['tarball']}")
            content = handle.read()
            if target.endswith(".js"):
                content = SOURCE_MAP.sub(b"\n", content)
            path = DEST / target
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            _log(f"  extracted {target} ({len(content) / 1024:.0f} KiB)")
    _stamp(package).write_text(package["integrity"] + "\n")


def ensure_vendored(*, force: bool = False) -> None:
    """Make every locked package present and verified (downloads only what is missing)."""
    DEST.mkdir(parents=True, exist_ok=True)
    for package in json.loads(LOCK.read_text())["packages"]:
        if not force and is_current(package):
            continue
        _log(f"vendoring {package['name']} {package['version']} from the npm registry")
        vendor_package(package)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        ensure_vendored(force="--force" in args)
    except VendorError as exc:
        _log(f"ERROR: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
