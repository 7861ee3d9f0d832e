"""The ids a log record carries (``campaign``, ``lead``, ``call``), bound for a scope.

``log_fields(…)`` binds them for everything logged inside it, in the same task and in the
tasks it spawns (a contextvar: asyncio copies the context into new tasks). The formatter
(dialer/logs.py) reads ``bound()``; code that knows the ids at the call site passes
``extra={"campaign": …}`` instead. Pure: no I/O, so the engine and every adapter can use it.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from types import MappingProxyType

FIELDS = ("campaign", "lead", "call")

_bound: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "dialer_log_fields", default=MappingProxyType({}))


@contextlib.contextmanager
def log_fields(**fields: str | None) -> Iterator[None]:
    """Bind ``campaign``/``lead``/``call`` (empty or None: left out) for the records logged
    inside, on top of what is bound already."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise TypeError(f"not a log field: {sorted(unknown)}")
    token = _bound.set(MappingProxyType(
        {**_bound.get(), **{k: v for k, v in fields.items() if v}}))
    try:
        yield
    finally:
        _bound.reset(token)


def bound() -> Mapping[str, str]:
    """The fields bound in the current context."""
    return _bound.get()
