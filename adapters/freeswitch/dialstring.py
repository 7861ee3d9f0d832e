"""Building ``originate`` commands that lead data cannot subvert.

A lead's params end up in the originate string, so every value is validated or escaped:

- numbers, caller ids, uuids, gateway/context/extension names must match strict patterns,
  else ``UnsafeDialValue`` (the call is refused, never "cleaned up" into another number);
- every channel variable value is percent-encoded over UTF-8 with only
  ``A-Z a-z 0-9 - _ . ~`` left as is (an empty value is left out: FreeSWITCH drops
  ``name=`` anyway), so a value can contain no comma, brace, quote, space, ``$`` (no variable
  expansion), ``|`` or newline. Values made only of those safe characters (uuids, digits,
  names like ``autocall_voice_tts``) are therefore unchanged; free text (the rendered TTS
  script) arrives percent-encoded and the dialplan reads it with
  ``${url_decode(${autocall_tts_text})}``.

What is played or said (issue 11):
- ``autocall_audio_file`` must be a plain file name (``proto.messages.SOUND_FILE``: no
  scheme such as ``http_cache://`` or ``file_string://``, no ``..``, no ``$ { ! |``) and is
  resolved under the deployment's sound directory (``DialPlan.sound_dir``);
- the TTS engine and voice come from the deployment (``autocall_tts_engine``/``_voice``,
  validated names), never from a lead or a campaign, and the dialplan passes them to
  ``speak`` as ``engine|voice|text``: FreeSWITCH splits ``speak``'s argument at its first
  two ``|`` only, so the text can never re-split it (and engine.script leaves no ``|``
  in it anyway).

The result is checked once more as a whole against the alphabet it can contain.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from engine.errors import UnsafeDialValue
from proto.messages import SOUND_FILE

_DIGITS = re.compile(r"[0-9]{3,15}")
_CALLER_ID = re.compile(r"\+?[0-9]{0,20}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_VAR_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_WHOLE = re.compile(r"originate \{[A-Za-z0-9_.~%=,-]*\}[A-Za-z0-9_./@-]+ [A-Za-z0-9_.&()/@ -]+")
_SOUND_DIR = re.compile(r"(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}){0,16}")
MAX_VALUE_BYTES = 8192
# Set from the deployment only: a variable of these names from anywhere else is refused.
DEPLOYMENT_VARIABLES = frozenset({"autocall_tts_engine", "autocall_tts_voice"})


@dataclass(frozen=True, slots=True)
class DialPlan:
    """Where calls go and what runs when they answer (from settings, validated)."""

    gateway: str = "carrier"
    endpoint: str = "sofia/gateway/{gateway}/{number}"
    # "&park()" parks the answered call; otherwise "<extension> XML <context>".
    extension: str = "autocall"
    context: str = "autocall"
    park: bool = False
    # Where audio_file names are resolved on the switch ("" = FreeSWITCH's sound prefix).
    sound_dir: str = ""
    # What `speak` uses (passed by the dialplan as engine|voice|text).
    tts_engine: str = "flite"
    tts_voice: str = "kal"

    def target(self) -> str:
        if self.park:
            return "&park()"
        _check(_NAME, self.extension, "extension")
        _check(_NAME, self.context, "context")
        return f"{self.extension} XML {self.context}"


def _check(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not pattern.fullmatch(value):
        raise UnsafeDialValue(f"{what} refused")
    return value


def sound_path(plan: DialPlan, name: str) -> str:
    """A campaign's audio_file → the path the switch plays (or UnsafeDialValue)."""
    _check(SOUND_FILE, name, "audio file")
    _check(_SOUND_DIR, plan.sound_dir.rstrip("/"), "sound directory")
    return f"{plan.sound_dir.rstrip('/')}/{name}" if plan.sound_dir else name


# What ``quote(value, safe="-_.")`` leaves as is (it always keeps "~" too): a value made
# only of these needs no encoding, and most are (uuids, digits, names), so they skip
# ``quote``, a tenth of the engine's CPU per call when every value went through it.
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def escape_value(value: str) -> str:
    if _UNRESERVED.fullmatch(value):
        if len(value) > MAX_VALUE_BYTES:  # ASCII: one byte per character
            raise UnsafeDialValue("variable value too long")
        return value
    if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
        raise UnsafeDialValue("variable value too long")
    return quote(value, safe="-_.")


def originate_command(
    *,
    call_uuid: str,
    destination: str,
    caller_id: str,
    timeout_s: int,
    variables: Mapping[str, str],
    plan: DialPlan,
) -> str:
    """``originate {…}endpoint target``, for ``bgapi``. Raises UnsafeDialValue."""
    _check(_UUID, call_uuid, "call uuid")
    _check(_DIGITS, destination, "destination")
    _check(_CALLER_ID, caller_id, "caller id")
    _check(_NAME, plan.gateway, "gateway")
    if not 1 <= timeout_s <= 600:
        raise UnsafeDialValue("originate timeout out of range")
    pairs = [
        ("origination_uuid", call_uuid),
        ("originate_timeout", str(timeout_s)),
        ("ignore_early_media", "true"),
    ]
    if caller_id:
        pairs += [("origination_caller_id_number", caller_id),
                  ("effective_caller_id_number", caller_id)]
    for name, value in variables.items():
        _check(_VAR_NAME, name, "variable name")
        if name in DEPLOYMENT_VARIABLES:
            raise UnsafeDialValue(f"{name} is the deployment's, not a call's")
        if name == "autocall_audio_file" and value:
            value = sound_path(plan, value)
        if value:
            pairs.append((name, value))
    if variables.get("autocall_application") == "speak":
        pairs += [("autocall_tts_engine", _check(_NAME, plan.tts_engine, "tts engine")),
                  ("autocall_tts_voice", _check(_NAME, plan.tts_voice, "tts voice"))]
    block = ",".join(f"{name}={escape_value(value)}" for name, value in pairs)
    endpoint = plan.endpoint.format(gateway=plan.gateway, number=destination)
    command = f"originate {{{block}}}{endpoint} {plan.target()}"
    if not _WHOLE.fullmatch(command):
        raise UnsafeDialValue("originate command failed the final check")
    return command
