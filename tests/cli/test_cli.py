"""The command line's frame: commands, environment variables, exit codes."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rev_analytics.cli.main import build_parser, main
from tests.consumer_support import ROOT

COMMANDS = ("demo", "consume", "simulate", "ab-test", "compare-models", "plan", "analyze",
            "report", "export")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rev_analytics", *args], cwd=ROOT, capture_output=True,
        text=True, timeout=120, env={**os.environ, **(env or {})},
    )


def test_help_lists_every_contract_command() -> None:
    result = cli("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("consume", "--db", "x.db"),  # --redis-url missing
        ("consume", "--redis-url", "redis://127.0.0.1:1", "--db", "x.db", "--batch-max", "0"),
        ("consume", "--redis-url", "redis://127.0.0.1:1", "--db", "x.db", "--claim-idle", "-1"),
        ("consume", "--redis-url", "redis://127.0.0.1:1", "--db", "x.db", "--batch-within", "x"),
        ("no-such-command",),
    ],
)
def test_bad_usage_is_one_line_on_stderr_and_exit_2(args: tuple[str, ...]) -> None:
    result = cli(*args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_environment_variables_set_options(tmp_path: Path) -> None:
    # REV_ANALYTICS_BATCH_MAX is parsed exactly like --batch-max would be.
    result = cli("consume", "--redis-url", "redis://127.0.0.1:1", "--db", str(tmp_path / "x.db"),
                 env={"REV_ANALYTICS_BATCH_MAX": "0"})
    assert result.returncode == 2
    assert "batch-max" in result.stderr


def test_required_option_can_come_from_the_environment(capsys: pytest.CaptureFixture[str]) -> None:
    os.environ["REV_ANALYTICS_REDIS_URL"] = "http://not-redis"
    try:
        code = main(["consume", "--db", "unused.db", "--no-metrics"])
    finally:
        del os.environ["REV_ANALYTICS_REDIS_URL"]
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "must start with redis://" in err
    assert len(err.splitlines()) == 1


def test_building_the_parser_stays_cheap() -> None:
    # Every command pays for the parser; heavy stacks load only in the command that runs.
    probe = (
        "import sys; from rev_analytics.cli.main import build_parser; build_parser(); "
        "print(sorted(m for m in ('pandas', 'faust', 'sklearn', 'matplotlib', 'scipy', "
        "'statsmodels', 'pyarrow') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


def test_consume_flags_default_to_the_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    from rev_analytics.cli.commands.consume import settings_from_args
    from streams.consumer.settings import ConsumerSettings

    for name in [n for n in os.environ if n.startswith("REV_ANALYTICS_")]:
        monkeypatch.delenv(name)
    args = build_parser().parse_args(["consume", "--redis-url", "redis://h", "--db", "x.db"])
    assert settings_from_args(args) == ConsumerSettings(redis_url="redis://h", db="x.db")


def one_line(text: str) -> str:
    return " ".join(text.split())  # argparse wraps help text at the terminal's width


def test_demo_help_shows_every_default() -> None:
    result = cli("demo", "--help")
    assert result.returncode == 0
    help_text = one_line(result.stdout)
    for flag, default in (("--out", "rev-analytics-demo"), ("--events", "20000"),
                          ("--rate", "5000.0"), ("--seed", "0"), ("--backfill-days", "7.0"),
                          ("--invalid-fraction", "0.005"), ("--metrics-port", "9464")):
        assert f"(default: {default}) [env REV_ANALYTICS_{flag[2:].upper().replace('-', '_')}]" \
            in help_text, flag
    assert "(default: False)" not in help_text  # --no-report is a flag: nothing to show


def test_every_commands_help_shows_each_option_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("REV_ANALYTICS_")]:
        monkeypatch.delenv(name)
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    checked = 0
    for command, sub in [("(top)", parser), *commands.choices.items()]:
        help_text = one_line(sub.format_help())
        for action in sub._actions:
            if action.help == argparse.SUPPRESS or not action.option_strings:
                continue
            shown = f"(default: {action.default})"
            if action.default is None or action.default is False or action.required or \
                    action.default == argparse.SUPPRESS:
                assert "(default: None)" not in help_text
                continue
            assert shown in help_text, (command, action.option_strings)
            checked += 1
    assert checked >= 30
    assert set(commands.choices) == set(COMMANDS)


def test_help_says_an_environment_variable_is_set_but_never_shows_its_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REV_ANALYTICS_REDIS_URL", "redis://:hunter2@db.internal:6379/0")
    monkeypatch.setenv("REV_ANALYTICS_BATCH_MAX", "7")
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    help_text = one_line(commands.choices["consume"].format_help())
    assert "hunter2" not in help_text
    assert "[env REV_ANALYTICS_REDIS_URL is set]" in help_text
    assert "(default: 5000) [env REV_ANALYTICS_BATCH_MAX is set and overrides the default]" \
        in help_text
    args = parser.parse_args(["consume", "--db", "x.db"])
    assert args.batch_max == 7  # and the variable still does its job


def test_every_command_names_the_extra_it_needs() -> None:
    from rev_analytics.cli.extras import EXTRA_MODULES
    from rev_analytics.cli.main import _command_modules

    for module in _command_modules():
        assert getattr(module, "EXTRA", None) in EXTRA_MODULES, module.NAME
