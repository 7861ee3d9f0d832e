"""The chart README: its values table is generated from values.yaml and must not drift;
``helm show readme`` prints it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dialer.settings import Settings
from tests.helm.chart import CHART, PROPOSED_SETTINGS, run_helm
from tests.helm.values_doc import README, VALUES, render_readme, rows


def test_readme_values_table_matches_values_yaml() -> None:
    current = README.read_text()
    assert current == render_readme(current), (
        "helm/autocall-dialer/README.md is stale: python -m tests.helm.values_doc --write")


def _leaves(node: Any, path: tuple[str, ...] = ()) -> list[str]:
    if isinstance(node, dict) and node:
        return [leaf for k, v in node.items() for leaf in _leaves(v, (*path, k))]
    return [".".join(path)]


def test_every_value_is_in_the_table() -> None:
    documented = [r.path for r in rows()]
    for leaf in _leaves(yaml.safe_load(VALUES.read_text())):
        assert any(leaf == d or leaf.startswith(d + ".") for d in documented), leaf


def test_an_undocumented_value_fails_the_generation() -> None:
    text = VALUES.read_text().replace("  # Always, IfNotPresent or Never.\n", "")
    with pytest.raises(ValueError, match=r"image\.pullPolicy"):
        rows(text)
    # a comment after a blank line documents nothing
    text = VALUES.read_text().replace("  # Always, IfNotPresent or Never.\n",
                                      "  # Always, IfNotPresent or Never.\n\n")
    with pytest.raises(ValueError, match=r"image\.pullPolicy"):
        rows(text)


def test_a_changed_comment_or_default_changes_the_table() -> None:
    readme = README.read_text()
    values = VALUES.read_text()
    assert render_readme(readme, values.replace("sizeLimit: 64Mi", "sizeLimit: 65Mi")) != readme
    assert render_readme(readme, values.replace("# Tolerations.", "# Node taints.")) != readme


def test_settings_named_in_values_comments_exist() -> None:
    fields = set(Settings.model_fields) | PROPOSED_SETTINGS
    named = set(re.findall(r"DIALER_([A-Z][A-Z0-9_]*[A-Z0-9])", VALUES.read_text()))
    assert named
    for name in named:
        assert name.lower() in fields, f"values.yaml documents DIALER_{name}: no such setting"


def test_helm_show_readme(helm: Path) -> None:
    run = run_helm(helm, "show", "readme", str(CHART))
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("# autocall-dialer")
    assert "| `engine.replicas` | int | `3` |" in run.stdout


_LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("doc", ["README.md", "helm/README.md", "helm/autocall-dialer/README.md",
                                 "helm/autocall-dialer/values.yaml"])
def test_deployment_docs_stand_alone(doc: str) -> None:
    """No reference outside the repository (issue 12: helm/README.md linked a design file
    beside it); every relative link resolves to a file of the repository."""
    root = CHART.parents[1]
    path = root / doc
    text = path.read_text()
    assert "../shared" not in text and "/work/" not in text, doc
    for target in _LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue
        resolved = (path.parent / target).resolve()
        assert resolved.is_relative_to(root), f"{doc} links outside the repository: {target}"
        assert resolved.exists(), f"{doc} links to a missing file: {target}"
