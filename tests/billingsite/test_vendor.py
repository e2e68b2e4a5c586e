"""Vendoring Chart.js: integrity is checked before anything is written; runs are idempotent."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from billingsite import vendor


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    data = tarball(
        {
            "package/dist/chart.umd.min.js": b"window.Chart=1;\n"
            b"//# sourceMappingURL=chart.umd.min.js.map\n",
            "package/LICENSE.md": b"MIT",
        }
    )
    lock = {
        "packages": [
            {
                "name": "chart.js",
                "version": "0.0.1",
                "tarball": "https://x.invalid/c.tgz",
                "integrity": vendor.sri_sha512(data),
                "files": {
                    "package/dist/chart.umd.min.js": "chart.js/chart.umd.min.js",
                    "package/LICENSE.md": "chart.js/LICENSE.md",
                },
            }
        ]
    }
    (tmp_path / "lock.json").write_text(json.dumps(lock))
    monkeypatch.setattr(vendor, "LOCK", tmp_path / "lock.json")
    monkeypatch.setattr(vendor, "DEST", tmp_path / "vendor")
    calls: list[str] = []

    def fake_download(url: str) -> bytes:
        calls.append(url)
        return data

    monkeypatch.setattr(vendor, "_download", fake_download)
    return {"calls": calls, "dest": tmp_path / "vendor", "lock": tmp_path / "lock.json"}


def test_extracts_verified_files_once(sandbox: dict[str, object]) -> None:
    vendor.ensure_vendored()
    dest = sandbox["dest"]
    assert isinstance(dest, Path)
    assert (dest / "chart.js/chart.umd.min.js").read_bytes() == b"window.Chart=1;\n"
    assert (dest / "chart.js/LICENSE.md").read_bytes() == b"MIT"
    vendor.ensure_vendored()
    assert sandbox["calls"] == ["https://x.invalid/c.tgz"]  # the second run downloads nothing


def test_refuses_a_tarball_that_does_not_match_the_lock(sandbox: dict[str, object]) -> None:
    lock_path = sandbox["lock"]
    assert isinstance(lock_path, Path)
    lock = json.loads(lock_path.read_text())
    lock["packages"][0]["integrity"] = "sha512-AAAA"
    lock_path.write_text(json.dumps(lock))
    with pytest.raises(vendor.VendorError, match="integrity mismatch"):
        vendor.ensure_vendored()
    assert not (sandbox["dest"] / "chart.js/chart.umd.min.js").exists()  # type: ignore[operator]
    assert vendor.main([]) == 1


def test_the_pinned_lock_names_an_exact_version_with_sha512() -> None:
    for package in json.loads(vendor.LOCK.read_text())["packages"]:
        assert package["integrity"].startswith("sha512-")
        assert package["version"] in package["tarball"]
        assert all(ch.isdigit() or ch == "." for ch in package["version"])
