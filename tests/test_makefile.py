"""What the Makefile would install on a fresh machine (`make -n`, against an
empty virtualenv folder): running needs the runtime set only, tests add theirs."""

import subprocess

from tests.cluster import ROOT


def dry_run(target: str, tmp_path) -> str:
    result = subprocess.run(
        ["make", "-n", target, f"VENV={tmp_path / 'venv'}"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout


def test_make_run_installs_what_running_needs_and_no_test_tools(tmp_path):
    commands = dry_run("run", tmp_path)
    assert "-r requirements.txt -r requirements-piper.txt" in commands  # Piper is a voice users can pick
    assert "requirements-dev.txt" not in commands


def test_make_test_and_lint_add_the_test_tools(tmp_path):
    for target in ("test", "test-quick", "lint"):
        commands = dry_run(target, tmp_path)
        assert "-r requirements.txt -r requirements-piper.txt" in commands
        assert "-r requirements-dev.txt" in commands


def test_the_runtime_requirements_name_no_test_tool():
    runtime = (ROOT / "requirements.txt").read_text() + (ROOT / "requirements-piper.txt").read_text()
    for tool in ("pytest", "playwright", "moto", "schemathesis", "hypothesis", "ruff"):
        assert tool not in runtime.lower()
