"""proto/asyncapi.yaml against the official AsyncAPI parser (@asyncapi/parser, node)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from proto import generate
from tests.asyncapi import parser

DOC = generate.HERE / "asyncapi.yaml"


def test_the_document_parses_with_no_error_or_warning(asyncapi_parser: Path) -> None:
    result = parser.validate(DOC)
    assert result.valid, result.diagnostics
    assert result.errors() == []


def test_the_parser_rejects_pydantics_discriminator_and_a_bad_binding(
    asyncapi_parser: Path, tmp_path: Path,
) -> None:
    """The check can fail: the raw pydantic schema (an OpenAPI discriminator object) and a
    non-integer partition count are both refused."""
    doc: dict[str, Any] = json.loads(DOC.read_text(encoding="utf-8"))
    doc["components"]["schemas"]["control-command"] = generate.schema("control-command")
    doc["channels"]["leads"]["bindings"]["kafka"]["partitions"] = "three"
    bad = tmp_path / "bad.yaml"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    result = parser.validate(bad)
    assert not result.valid
    messages = " ".join(d["message"] for d in result.errors(0))
    assert "discriminator" in messages and "partitions" in messages


def test_every_channel_has_kafka_bindings_and_every_message_a_key() -> None:
    doc = json.loads(DOC.read_text(encoding="utf-8"))
    assert doc["servers"]["kafka"]["protocol"] == "kafka"
    for topic, channel in doc["channels"].items():
        kafka = channel["bindings"]["kafka"]
        assert kafka["topic"] == f"autocall.{topic}"
        assert kafka["partitions"] >= 1
        (ref,) = channel["messages"].values()
        message = doc["components"]["messages"][ref["$ref"].rsplit("/", 1)[1]]
        assert message["bindings"]["kafka"]["key"]["type"] == "string"
    assert doc["components"]["schemas"]["control-command"]["discriminator"] == "type"


def test_the_documented_defaults_are_the_settings_defaults() -> None:
    from dialer.settings import Settings

    fields = Settings.model_fields
    assert fields["kafka_partitions"].default == generate.DEFAULT_PARTITIONS
    assert fields["topic_prefix"].default == generate.DEFAULT_PREFIX
