"""Write proto/schemas/*.json and proto/asyncapi.yaml from the pydantic models.

Run ``python -m proto.generate`` after changing proto/messages.py; ``--check`` exits 1 when
the files on disk differ (tests/test_proto.py runs the same comparison, and
tests/test_asyncapi.py validates the document with the official AsyncAPI parser).

``proto/schemas/*.json`` are pydantic's JSON Schemas as they are. The AsyncAPI document
holds the same schemas inline, in AsyncAPI's schema dialect: every model is one entry of
``components.schemas`` (no ``$defs``, references point there), and pydantic's
OpenAPI-style ``discriminator`` object becomes AsyncAPI's discriminator, the property name.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter

from proto import messages as m

HERE = Path(__file__).parent

SCHEMAS: dict[str, type[BaseModel] | TypeAdapter[Any]] = {
    "lead-import": m.LeadImport,
    "dnc-entry": m.DncEntry,
    "control-command": m.CONTROL,
    "cdr": m.CdrRecord,
    "lead-event": m.LeadEventRecord,
    "dlq-record": m.DlqRecord,
}

KAFKA_BINDING = "0.5.0"
DEFAULT_PREFIX = "autocall."
DEFAULT_PARTITIONS = 3  # Settings.kafka_partitions, the partition count of created topics

# topic (suffix after the prefix) → (schema name, key, what it carries)
CHANNELS = {
    "leads": ("lead-import", "campaign_uuid", "Lead imports, one lead per message."),
    "dnc": ("dnc-entry",
            "'dnc/<campaign_uuid>/<customer_id>' (one customer per record, in the "
            "campaign's partition) or 'dnc-phone/<national number>' (one number); a "
            "tombstone (null value) removes the entry. Compacted",
            "Do-not-call adds and removes."),
    "control": ("control-command",
                "'<campaign_uuid>' (upsert), '<campaign_uuid>/status', "
                "'<campaign_uuid>/active', '<campaign_uuid>/delete' (then tombstones of "
                "all four keys), every record in the campaign's partition "
                "(murmur2(campaign_uuid) as for leads). Compacted",
                "Campaign upsert, status (start/pause/stop), active, delete."),
    "cdr": ("cdr", "campaign_uuid", "One record per finished call leg (seed 004 fields)."),
    "lead-events": ("lead-event", "campaign_uuid", "Lead lifecycle state changes."),
    "dlq": ("dlq-record", "the original key", "Rejected input with the reason."),
}
ENGINE_RECEIVES = ("leads", "dnc", "control")


def schema(name: str) -> dict[str, Any]:
    target = SCHEMAS[name]
    if isinstance(target, TypeAdapter):
        return target.json_schema()
    return target.model_json_schema()


def render_schema(name: str) -> str:
    return json.dumps(schema(name), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def _asyncapi_schema(node: Any) -> Any:
    """pydantic's JSON Schema → AsyncAPI schema: ``discriminator`` is the property name."""
    if isinstance(node, dict):
        out = {k: _asyncapi_schema(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node.get("discriminator"), dict):
            out["discriminator"] = node["discriminator"]["propertyName"]
        return out
    if isinstance(node, list):
        return [_asyncapi_schema(v) for v in node]
    return node


def component_schemas() -> dict[str, Any]:
    """Every topic's payload schema and every model they use, references inside the
    document (``#/components/schemas/<Model>``)."""
    out: dict[str, Any] = {}
    for name, target in SCHEMAS.items():
        ref = "#/components/schemas/{model}"
        raw = (target.json_schema(ref_template=ref) if isinstance(target, TypeAdapter)
               else target.model_json_schema(ref_template=ref))
        for model, sub in raw.get("$defs", {}).items():
            out[model] = _asyncapi_schema(sub)
        out[name] = _asyncapi_schema(raw)
    return dict(sorted(out.items()))


def _key_schema(key: str) -> dict[str, Any]:
    return {"type": "string", "description": f"Record key (UTF-8): {key}."}


def render_asyncapi() -> str:
    """AsyncAPI 3 as JSON-compatible YAML (JSON is valid YAML; no YAML dependency)."""
    doc: dict[str, Any] = {
        "asyncapi": "3.1.0",
        "info": {
            "title": "Autocall dialer topics",
            "version": "1.0.0",
            "description": (
                "Topic names carry one configurable prefix (DIALER_TOPIC_PREFIX, default "
                f"'{DEFAULT_PREFIX}'). Payloads are UTF-8 JSON. Every topic is keyed by "
                "campaign, so one engine instance owns a campaign and a campaign's messages "
                "stay in order. Inputs (leads, dnc, control) ignore fields they do not know "
                "(counted by the engine); outputs refuse them. Topics the dialer creates get "
                "DIALER_KAFKA_PARTITIONS partitions (default "
                f"{DEFAULT_PARTITIONS}); leads, dnc and control must have the same count "
                "(co-partitioned)."),
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "{bootstrap}",
                "protocol": "kafka",
                "description": "The Kafka cluster (DIALER_KAFKA_BOOTSTRAP, comma-separated).",
                "variables": {"bootstrap": {
                    "default": "127.0.0.1:9092",
                    "description": "host:port of a bootstrap broker.",
                }},
            },
        },
        "channels": {},
        "operations": {},
        "components": {"messages": {}, "schemas": component_schemas()},
    }
    for topic, (schema_name, key, text) in CHANNELS.items():
        msg_id = schema_name.replace("-", "_")
        doc["components"]["messages"][msg_id] = {
            "name": schema_name,
            "title": schema_name,
            "payload": {"$ref": f"#/components/schemas/{schema_name}"},
            "description": f"{text} Key: {key}.",
            "bindings": {"kafka": {"key": _key_schema(key),
                                   "bindingVersion": KAFKA_BINDING}},
        }
        doc["channels"][topic] = {
            "address": f"{{prefix}}{topic}",
            "parameters": {"prefix": {
                "default": DEFAULT_PREFIX,
                "description": "DIALER_TOPIC_PREFIX",
            }},
            "servers": [{"$ref": "#/servers/kafka"}],
            "messages": {msg_id: {"$ref": f"#/components/messages/{msg_id}"}},
            "description": text,
            "bindings": {"kafka": {
                "topic": f"{DEFAULT_PREFIX}{topic}",
                "partitions": DEFAULT_PARTITIONS,
                "bindingVersion": KAFKA_BINDING,
            }},
        }
        action = "receive" if topic in ENGINE_RECEIVES else "send"
        doc["operations"][f"engine_{action}_{topic.replace('-', '_')}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{topic}"},
            "messages": [{"$ref": f"#/channels/{topic}/messages/{msg_id}"}],
        }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def outputs() -> dict[Path, str]:
    files = {HERE / "schemas" / f"{name}.json": render_schema(name) for name in SCHEMAS}
    files[HERE / "asyncapi.yaml"] = render_asyncapi()
    return files


def drifted() -> list[Path]:
    return [p for p, text in outputs().items()
            if not p.exists() or p.read_text(encoding="utf-8") != text]


def main(argv: list[str]) -> int:
    if "--check" in argv:
        stale = drifted()
        for p in stale:
            print(f"stale: {p}")
        return 1 if stale else 0
    for path, text in outputs().items():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
