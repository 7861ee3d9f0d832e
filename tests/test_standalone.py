"""The repository stands alone: nothing tracked names a directory beside it, the suite
collects and runs from a copy with nothing beside it, and ``-m "not kafka"`` never reaches
the broker."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Spelled in pieces so that this file does not match itself.
OUTSIDE = ("../" + "shared", "/work/" + "shared")
# A path built from parts, as tests once found the seeds (parents[3], then "shared").
BUILT = re.compile(r"/\s*[\"']" + "shared" + r"[\"']")
# Lines that name the outside only to check that nothing else does.
GUARDS = {("tests/helm/test_values_doc.py", '"../' + 'shared" not in text')}


def tracked_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    run = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                         check=True)
    return [p for p in run.stdout.decode().split("\0") if p]


def outside_references(root: Path, paths: list[str]) -> list[str]:
    found = []
    for rel in paths:
        path = root / rel
        if not path.is_file():
            continue  # deleted in the working tree, not yet in the index
        text = path.read_bytes().decode("utf-8", "replace")
        for n, line in enumerate(text.splitlines(), 1):
            named = any(o in line for o in OUTSIDE) or (
                rel.endswith(".py") and BUILT.search(line) is not None)
            if named and not any(rel == f and fragment in line for f, fragment in GUARDS):
                found.append(f"{rel}:{n}: {line.strip()[:120]}")
    return found


def test_no_tracked_file_names_a_directory_outside_the_repository() -> None:
    assert outside_references(ROOT, tracked_files()) == []
    for rel, fragment in GUARDS:  # an exception that no longer matches must go
        assert fragment in (ROOT / rel).read_text(encoding="utf-8"), (
            f"{rel} changed: update its GUARDS entry in tests/test_standalone.py")


def test_the_check_sees_a_reference(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text('SEEDS = "../' + 'shared/seeds"\n')
    (tmp_path / "b.md").write_text("see /work/" + "shared/design/x.md\n")
    (tmp_path / "c.txt").write_text("nothing here; shared state\n")
    (tmp_path / "d.py").write_text('p = Path(__file__).parents[3] / "' + 'shared" / "seeds"\n')
    found = outside_references(tmp_path, ["a.py", "b.md", "c.txt", "d.py"])
    assert [f.split(":")[0] for f in found] == ["a.py", "b.md", "d.py"]


def test_the_suite_runs_from_a_copy_with_nothing_beside_it(tmp_path: Path) -> None:
    """Every tracked file copied into an empty directory: the whole suite collects (seed
    fixtures load at import) and tests that read the fixtures pass there. (The whole
    suite from a fresh clone is the README's test command; this is its quick guard.)"""
    copy = tmp_path / "alone" / "repo"
    for rel in tracked_files():
        src = ROOT / rel
        if src.is_file():
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, copy / rel)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    env["PYTHONPATH"] = str(copy)  # the copy's packages, not the editable install's
    # One run: the whole suite is collected (a collection error fails it; every seed
    # fixture loads at import), and two tests that read the fixtures run.
    chosen = "test_the_fixture_holds_the_seed_tables or test_index_lists_wire_captures"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not kafka",
         "-k", chosen], cwd=copy, env=env, capture_output=True, text=True, timeout=110,
        check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.stdout.splitlines()[-1].lstrip().startswith("2 passed"), run.stdout[-500:]


def test_an_unmarked_test_that_reaches_the_broker_fails_before_starting_it(
    pytester: pytest.Pytester,
) -> None:
    """A test that asks for the broker only at run time is not seen by the collection
    hook; the fixture refuses it (so ``-m "not kafka"`` cannot hide a broker test)."""
    pytester.makepyfile(textwrap.dedent("""
        import pytest

        @pytest.fixture(params=["kafka"])
        def bus(request):
            return request.getfixturevalue("kafka_bootstrap")

        def test_reaches_the_broker(bus):
            pass

        @pytest.fixture(params=[pytest.param("kafka", marks=pytest.mark.kafka)])
        def marked_bus(request):
            return request.getfixturevalue("kafka_bootstrap")

        def test_marked(marked_bus):
            pass
    """))
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest("-p", "tests.kafka_fixtures", "-m", "not kafka")
    result.assert_outcomes(errors=1, deselected=1)
    result.stdout.fnmatch_lines(["*uses the Kafka broker but is not marked kafka*"])
