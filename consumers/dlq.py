"""The DLQ record of an input message the engine could not take: the reason, its stable
code, when, and the original key, bytes and headers (text, or base64 when not UTF-8)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime

from engine.ports import BusMessage
from proto import messages as m

# Reason prefix (as written by decode, the consumers and the engine's errors) → error code.
_ERROR_CODES: tuple[tuple[str, m.DlqError], ...] = (
    ("oversized:", "oversized"),
    ("malformed JSON:", "malformed_json"),
    ("schema:", "schema"),
    ("not an input topic:", "not_an_input_topic"),
    ("UnknownCampaign:", "unknown_campaign"),
    ("misrouted:", "misrouted"),
    ("webhook to ", "webhook_failed"),
)


def error_code(reason: str) -> m.DlqError:
    """The stable code of a DLQ reason; a refusal by the engine (any other DialerError,
    "<ErrorClass>: …") is ``refused``."""
    for prefix, code in _ERROR_CODES:
        if reason.startswith(prefix):
            return code
    return "refused"


def _text(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


def dlq_record(msg: BusMessage, reason: str, *, at: datetime | None = None,
               code: m.DlqError | None = None) -> bytes:
    """The DLQ record of ``msg``: the reason, its code, when (``at``, default now), and the
    original key, bytes and headers."""
    value, encoding = _text(msg.value or b"")
    key = msg.key.decode("utf-8", "replace") if msg.key is not None else None
    stamp = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="milliseconds")
    headers: Sequence[tuple[str, bytes]] = msg.headers
    return m.dumps(
        m.DlqRecord(
            reason=reason[:2000],
            error_code=code or error_code(reason),
            timestamp=stamp.replace("+00:00", "Z"),
            source_topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            key=key,
            value=value,
            value_encoding=encoding,  # type: ignore[arg-type]
            headers=[m.DlqHeader(key=k, value=t, value_encoding=e)  # type: ignore[arg-type]
                     for k, (t, e) in ((k, _text(v)) for k, v in headers)],
        )
    )
