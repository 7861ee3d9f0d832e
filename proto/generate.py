"""Write proto/schemas/*.json and proto/asyncapi.yaml from the pydantic models.

Run ``python -m proto.generate`` after changing proto/messages.py; ``--check`` exits 1 when
the files on disk differ (tests/test_proto.py runs the same comparison).
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


def render_asyncapi() -> str:
    """AsyncAPI 3.0 as JSON-compatible YAML (JSON is valid YAML; no YAML dependency)."""
    doc: dict[str, Any] = {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Autocall dialer topics",
            "version": "1.0.0",
            "description": "Topic names carry one configurable prefix (default 'autocall.'). "
                           "Payloads are UTF-8 JSON.",
        },
        "defaultContentType": "application/json",
        "channels": {},
        "operations": {},
        "components": {"messages": {}, "schemas": {}},
    }
    for topic, (schema_name, key, text) in CHANNELS.items():
        msg_id = schema_name.replace("-", "_")
        doc["components"]["schemas"][schema_name] = {"$ref": f"schemas/{schema_name}.json"}
        doc["components"]["messages"][msg_id] = {
            "name": schema_name,
            "payload": {"$ref": f"#/components/schemas/{schema_name}"},
            "description": f"{text} Key: {key}.",
        }
        doc["channels"][topic] = {
            "address": f"{{prefix}}{topic}",
            "parameters": {"prefix": {"default": "autocall."}},
            "messages": {msg_id: {"$ref": f"#/components/messages/{msg_id}"}},
            "description": text,
        }
        action = "receive" if topic in ENGINE_RECEIVES else "send"
        doc["operations"][f"engine_{action}_{topic.replace('-', '_')}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{topic}"},
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
