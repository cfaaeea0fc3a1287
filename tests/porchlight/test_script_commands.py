import io
from pathlib import Path

import pytest

from porchlight.cli import main
from tests.bot.test_lint import GOOD


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "script.yaml"
    path.write_text(text)
    return path


def test_validate_accepts_a_careful_script(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, GOOD)
    assert main(["script", "validate", str(path)]) == 0
    assert "OK: script 'linted', 5 nodes, languages en, es" in capsys.readouterr().out


def test_validate_lists_structural_problems_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, GOOD.replace("next: bye\n  danger:", "next: nowhere\n  danger:"))
    assert main(["script", "validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}: line 26: node 'later' leads to missing node 'nowhere'" in err


def test_validate_refuses_a_script_that_breaks_a_safety_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, GOOD.replace("Hi. Type EXIT", "Hi from Harbour House. Type EXIT"))
    assert main(["script", "validate", str(path)]) == 0
    capsys.readouterr()
    assert main(["script", "validate", str(path), "--alarm-word", "Harbour House"]) == 1
    assert "[alarm-word]" in capsys.readouterr().err


def test_validate_explains_a_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["script", "validate", str(tmp_path / "nope.yaml")]) == 1
    assert "cannot read the file" in capsys.readouterr().err


def test_simulate_chats_moves_time_and_switches_language(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("1\n/state\n/timeout\n/wait 25\n/quit\n"))
    assert main(["script", "simulate", "--lang", "es"]) == 0
    out = capsys.readouterr().out
    assert "bot> ¿Puedes hablar sin riesgo?" in out
    assert "bot> ¿En qué te ayudamos?" in out
    assert "[node: menu, language: es]" in out
    assert "bot> Responde cuando quieras." in out
    assert out.rstrip().endswith("[conversation ended]")


def test_simulate_refuses_an_unknown_language(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["script", "simulate", "default", "--lang", "fr"]) == 2
    assert "no language 'fr'" in capsys.readouterr().err
