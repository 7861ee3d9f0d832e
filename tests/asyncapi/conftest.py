from __future__ import annotations

from pathlib import Path

import pytest

from tests.asyncapi import parser


@pytest.fixture(scope="session")
def asyncapi_parser() -> Path:
    """The official parser, installed with npm into the cache on first use (node present:
    never skipped; an install that fails is a failure)."""
    if parser.node() is None:
        pytest.skip("node is not installed")
    return parser.parser_dir()
