"""Everyday ergonomics: ``dialer --version``, each role's ``-h`` lists its settings, the
README's settings reference is generated (drift test), JSON logs carry campaign/lead/call
and an error is one JSON record."""

from __future__ import annotations

import asyncio
import io
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from importlib import metadata

import orjson
import pytest

from dialer import settings_doc
from dialer.cli import main
from dialer.logs import JsonFormatter
from dialer.settings import Settings
from engine.logfields import log_fields


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"dialer {metadata.version('autocall-dialer')}"


@pytest.mark.parametrize("role", ["engine", "api", "up"])
def test_each_role_help_lists_every_setting(
    role: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([role, "-h"])
    out = capsys.readouterr().out
    for row in settings_doc.rows():
        assert f"{row.env}=" in out, row.env
        assert row.description, f"{row.env} has no docstring (or comment above it)"
        assert row.description[:40] in " ".join(out.split()), row.env
    assert {r.env for r in settings_doc.rows()} == {
        f"DIALER_{n.upper()}" for n in Settings.model_fields}
    assert "DIALER_HTTP_PORT=8080" in out
    assert "dev-token" not in out and "ClueCon" not in out and "change-me" not in out


def test_the_readme_settings_reference_is_generated() -> None:
    assert not settings_doc.drifted(), "run: python -m dialer.settings_doc --write"
    text = settings_doc.README.read_text(encoding="utf-8")
    for row in settings_doc.rows():
        assert f"| `{row.env}` |" in text


def test_a_field_without_docstring_is_described_by_the_comment_above_it() -> None:
    class Later(Settings):
        # How many widgets
        # per second.
        widgets: int = 3
        plain: int = 1

    by_env = {r.env: r for r in settings_doc.rows(Later)}
    assert by_env["DIALER_WIDGETS"].description == "How many widgets per second."
    assert by_env["DIALER_PLAIN"].description == ""
    assert by_env["DIALER_BUS"].description.startswith("Message bus")


def test_the_reference_generator_sees_drift(tmp_path: object) -> None:
    stale = f"# x\n{settings_doc.BEGIN}\n| old |\n{settings_doc.END}\nafter\n"
    fresh = settings_doc.render_readme(stale)
    assert fresh != stale and fresh.endswith("after\n") and "DIALER_BUS" in fresh
    assert settings_doc.render_readme(fresh) == fresh
    with pytest.raises(ValueError, match="markers"):
        settings_doc.render_readme("no markers")


def test_invalid_settings_are_one_line_without_the_value() -> None:
    env = {"PATH": "/usr/bin:/bin", "DIALER_API_TOKENS": '["s3cr3t-token', "HOME": "/tmp"}
    run = subprocess.run([sys.executable, "-m", "dialer.cli", "engine"], env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2
    (line,) = run.stderr.strip().splitlines()
    assert "DIALER_API_TOKENS" in line
    assert "s3cr3t" not in run.stderr


# ---- log records ------------------------------------------------------------------------
@pytest.fixture
def records() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.fields")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(x) for x in stream.getvalue().splitlines()]


async def test_records_carry_campaign_lead_and_call(records: io.StringIO) -> None:
    log = logging.getLogger("test.fields")
    log.info("plain")
    log.info("explicit", extra={"campaign": "c1", "lead": "l1", "call": "k1"})
    with log_fields(campaign="c2"):
        log.info("bound")
        with log_fields(lead="l2", call=None):

            async def spawned() -> None:
                log.info("in a task")

            await asyncio.create_task(spawned())
        log.info("lead unbound again")
    out = lines(records)
    assert [{k: r.get(k) for k in ("msg", "campaign", "lead", "call")} for r in out] == [
        {"msg": "plain", "campaign": None, "lead": None, "call": None},
        {"msg": "explicit", "campaign": "c1", "lead": "l1", "call": "k1"},
        {"msg": "bound", "campaign": "c2", "lead": None, "call": None},
        {"msg": "in a task", "campaign": "c2", "lead": "l2", "call": None},
        {"msg": "lead unbound again", "campaign": "c2", "lead": None, "call": None},
    ]
    with pytest.raises(TypeError), log_fields(phone="0901234567"):  # type: ignore[arg-type]
        pass


def test_an_exception_is_one_record(records: io.StringIO) -> None:
    log = logging.getLogger("test.fields")
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        log.exception("failed", extra={"call": "k9"})
    (record,) = lines(records)
    assert (record["exc_type"], record["exc"], record["call"]) == ("ValueError", "bad\nthing",
                                                                  "k9")
    assert "Traceback (most recent call last)" in str(record["traceback"])


UNCAUGHT = {
    "main": "raise RuntimeError('boom')",
    "thread": textwrap.dedent("""
        import threading
        t = threading.Thread(target=lambda: 1 / 0, name="worker")
        t.start(); t.join()
    """),
    "gevent": textwrap.dedent("""
        import gevent
        gevent.spawn(lambda: {}["missing"]).join()
    """),
}


@pytest.mark.parametrize("where", list(UNCAUGHT))
def test_uncaught_errors_are_one_json_record(where: str) -> None:
    code = "import gevent.hub\nfrom dialer.logs import configure_logging\nconfigure_logging()\n"
    run = subprocess.run([sys.executable, "-c", code + UNCAUGHT[where]], capture_output=True,
                         text=True, timeout=60, check=False)
    (line,) = run.stderr.strip().splitlines()
    record = orjson.loads(line)
    assert record["exc_type"] in ("RuntimeError", "ZeroDivisionError", "KeyError")
    assert "Traceback" in record["traceback"]
