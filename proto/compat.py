"""Forward compatibility of the input contracts: which fields of a message this version
does not know.

Input models ignore unknown fields (a publisher may add a field before the engine knows
it); this module names them so that the input consumer can count them, which tells an
operator that publishers are ahead of the engine.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

MAX_NAMES = 100  # distinct field names remembered; a hostile publisher cannot grow it


def unknown_fields(model: BaseModel, raw: Any, where: str = "") -> list[str]:
    """Dotted paths of the keys of ``raw`` (the JSON the model was validated from) that no
    field of ``model`` or of its nested models took."""
    if not isinstance(raw, dict):
        return []
    known = type(model).model_fields
    found = [f"{where}{k}" for k in raw if k not in known]
    for name in known:
        if name not in raw:
            continue
        value, sub = getattr(model, name), raw[name]
        if isinstance(value, BaseModel):
            found += unknown_fields(value, sub, f"{where}{name}.")
        elif isinstance(value, list | tuple) and isinstance(sub, list):
            for i, (item, raw_item) in enumerate(zip(value, sub, strict=False)):
                if isinstance(item, BaseModel):
                    found += unknown_fields(item, raw_item, f"{where}{name}.{i}.")
    return found


@dataclass
class UnknownFields:
    """Per topic, the messages that carried unknown fields, and per ``topic:field`` how
    often (list indexes folded: ``phones.0.x`` counts as ``phones.*.x``)."""

    messages: Counter[str] = field(default_factory=Counter)
    names: Counter[str] = field(default_factory=Counter)

    def add(self, topic: str, paths: list[str]) -> list[str]:
        """Count one message; returns the names never seen before (worth one log line)."""
        if not paths:
            return []
        self.messages[topic] += 1
        new = []
        for path in paths:
            name = f"{topic}:" + ".".join("*" if p.isdigit() else p for p in path.split("."))
            if name not in self.names:
                if len(self.names) >= MAX_NAMES:
                    name = f"{topic}:(other)"
                else:
                    new.append(name)
            self.names[name] += 1
        return new

    @property
    def total(self) -> int:
        return sum(self.messages.values())
