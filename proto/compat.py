"""Forward compatibility of the input contracts: which fields of a message this version
does not know.

Input models ignore unknown fields (a publisher may add a field before the engine knows
it); this module names them so that the input consumer can count them, which tells an
operator that publishers are ahead of the engine.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, get_args

from pydantic import BaseModel

MAX_NAMES = 100  # distinct field names remembered; a hostile publisher cannot grow it


def _holds_models(annotation: Any) -> bool:
    """Can a value of this type annotation contain a pydantic model (at any depth)?"""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_holds_models(arg) for arg in get_args(annotation))


@lru_cache(maxsize=256)
def _flat(cls: type[BaseModel]) -> bool:
    """No field of ``cls`` can hold a nested model: its unknown fields are top-level keys
    only (a lead import, the hottest input: checking each field's value cost ~4 µs)."""
    return not any(_holds_models(f.annotation) for f in cls.model_fields.values())


def unknown_fields(model: BaseModel, raw: Any, where: str = "") -> list[str]:
    """Dotted paths of the keys of ``raw`` (the JSON the model was validated from) that no
    field of ``model`` or of its nested models took."""
    if not isinstance(raw, dict):
        return []
    cls = type(model)
    known = cls.model_fields
    found = [f"{where}{k}" for k in raw if k not in known]
    if _flat(cls):
        return found
    for name in known:
        sub = raw.get(name)
        if not isinstance(sub, dict | list):
            continue  # only a JSON object or array can hold a nested model's fields
        value = getattr(model, name)
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
