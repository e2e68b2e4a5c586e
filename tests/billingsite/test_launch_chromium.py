"""bin/tally test installs Chromium for the browser tests only when it must and may."""

from __future__ import annotations

from pathlib import Path

import pytest

from billingsite import launch


@pytest.fixture
def apt_calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[list[str]]:
    calls: list[list[str]] = []

    class Done:
        returncode = 0

    def fake_run(cmd: list[str], **kwargs: object) -> Done:
        calls.append(cmd)
        return Done()

    monkeypatch.setattr(launch, "CHROMIUM", tmp_path / "chromium")
    monkeypatch.setattr(launch.subprocess, "run", fake_run)
    monkeypatch.setattr(launch.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.delenv("TALLY_SKIP_BROWSER", raising=False)
    return calls


def test_installs_with_apt_when_missing_and_root(apt_calls, monkeypatch, capsys) -> None:
    monkeypatch.setattr(launch.os, "geteuid", lambda: 0)
    launch.ensure_chromium()
    assert apt_calls == [
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "chromium"],
    ]
    assert "installing Debian's chromium" in capsys.readouterr().out


def test_quiet_when_present(apt_calls, monkeypatch, capsys) -> None:
    launch.CHROMIUM.write_text("")
    monkeypatch.setattr(launch.os, "geteuid", lambda: 0)
    launch.ensure_chromium()
    assert apt_calls == []
    assert capsys.readouterr().out == ""


def test_not_root_explains_instead_of_installing(apt_calls, monkeypatch, capsys) -> None:
    monkeypatch.setattr(launch.os, "geteuid", lambda: 1000)
    launch.ensure_chromium()
    assert apt_calls == []
    assert "TALLY_SKIP_BROWSER=1" in capsys.readouterr().out


def test_opt_out_skips_install(apt_calls, monkeypatch) -> None:
    monkeypatch.setattr(launch.os, "geteuid", lambda: 0)
    monkeypatch.setenv("TALLY_SKIP_BROWSER", "1")
    launch.ensure_chromium()
    assert apt_calls == []
