import gc
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from aiohttp import web

from porchlight.cli import _freeze_startup_heap, main


def env_for(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORCHLIGHT_")}
    env["PORCHLIGHT_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


def test_check_config_prints_effective_settings_with_secrets_redacted(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "c2VjcmV0LWNhbmFyeS1rZXktMzItYnl0ZXMtbG9uZyE="  # 32 bytes, base64
    monkeypatch.setenv("PORCHLIGHT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PORCHLIGHT_MASTER_KEY", secret)

    assert main(["check-config"]) == 0

    out = capsys.readouterr().out
    assert "PORCHLIGHT_MASTER_KEY" in out
    assert secret not in out
    assert "PORCHLIGHT_PORT" in out
    assert "8080" in out
    assert "configuration OK" in out


def test_a_bad_setting_exits_2_naming_it(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PORCHLIGHT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PORCHLIGHT_PORT", "eighty")

    assert main(["check-config"]) == 2

    assert "PORCHLIGHT_PORT" in capsys.readouterr().err


def user_add(data_dir: Path, username: str, password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "porchlight",
            "user",
            "add",
            "--role",
            "advocate",
            "--username",
            username,
            "--password-stdin",
        ],
        input=password + "\n",
        env=env_for(data_dir),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_user_add_reads_the_password_from_stdin(data_dir: Path) -> None:
    done = user_add(data_dir, "robin", "a long enough password")
    assert done.returncode == 0, done.stderr
    assert "created advocate robin" in done.stdout

    again = user_add(data_dir, "robin", "another long password")
    assert again.returncode == 2
    assert "already exists" in again.stderr

    short = user_add(data_dir, "kim", "short")
    assert short.returncode == 2
    assert "at least 12" in short.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_demo_serves_prints_logins_and_leaves_nothing_behind(tmp_path: Path) -> None:
    port = free_port()
    env = env_for(tmp_path / "unused", PORCHLIGHT_PORT=str(port), TMPDIR=str(tmp_path))
    demo = subprocess.Popen(
        [sys.executable, "-m", "porchlight", "demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = ""
        deadline = time.monotonic() + 60
        while "Ctrl+C" not in banner and time.monotonic() < deadline:
            line = demo.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            banner += line
        assert f"http://127.0.0.1:{port}/" in banner, banner
        assert re.search(r"admin\s+demo-admin / \S{12,}", banner), banner
        assert re.search(r"advocate\s+demo-advocate / \S{12,}", banner), banner
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            assert response.status == 200
        assert list(tmp_path.glob("porchlight-demo-*")), "demo data lives in a temp folder"
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=30)
        if demo.stdout:
            demo.stdout.close()
    assert not list(tmp_path.glob("porchlight-demo-*")), "throwaway data is deleted on exit"


async def test_the_served_process_keeps_its_start_up_heap_out_of_garbage_collection() -> None:
    before = gc.get_freeze_count()
    try:
        await _freeze_startup_heap(web.Application())
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()  # the rest of the suite collects as usual
