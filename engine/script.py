"""What is said on a call (seed 001 ``type_autocall``), as channel variables for the switch.

- ``autocall_voice_tts``: the campaign's template with each ``{{key}}`` replaced by the
  lead's param read aloud by the seed 000 rules (``vnread.render_template``) →
  ``autocall_tts_text``; the dialplan speaks it (``autocall_application`` "speak").
- ``autocall_audio``: the campaign's audio file → ``autocall_audio_file``, played as is
  (``autocall_application`` "playback").
- ``autocall_voice_otp``: the lead's ``otp`` (or ``code``) param read digit by digit and
  said twice → ``autocall_tts_text`` ("speak").

Values are plain text here; the switch adapter escapes every value (or refuses it) when it
builds the originate command. TTS text never contains ``|`` (replaced by a space): the
dialplan calls ``speak`` with ``engine|voice|text`` and the engine and voice are the
deployment's, never a lead's (adapters/freeswitch/dialstring.py).
A campaign whose script is missing (a TTS campaign without a template, an audio campaign
without a file) does not dial at all: a call that says nothing
is worse than no call, and ``explain`` names the reason.
"""

from __future__ import annotations

from collections.abc import Mapping

from engine import vnread
from engine.model import Campaign, TypeAutocall

SPEAK_SEPARATOR = "|"
OTP_REPEAT = 2
OTP_MAX_DIGITS = 12
_Params = Mapping[str, str | int | float | bool | None]


def missing(spec: Campaign) -> str:
    """Why this campaign's calls would have nothing to say ("" when they would)."""
    if spec.type_autocall is TypeAutocall.AUDIO and not spec.audio_file:
        return "autocall_audio campaign without an audio_file"
    if spec.type_autocall is TypeAutocall.VOICE_TTS and not spec.template_text.strip():
        return "autocall_voice_tts campaign without a template_text"
    return ""


def _otp(params: _Params) -> str:
    return str(params.get("otp") or params.get("code") or "")


def lead_error(spec: Campaign, params: _Params) -> str:
    """A lead the script cannot be said for is refused at import, not at dial time."""
    if spec.type_autocall is TypeAutocall.VOICE_OTP:
        code = _otp(params)
        if not code.isascii() or not code.isdigit() or len(code) > OTP_MAX_DIGITS:
            return f"invalid otp: param otp (or code) must be 1-{OTP_MAX_DIGITS} digits"
    return ""


def variables(
    instance: str, spec: Campaign, lead_uuid: str, attempt: int, params: _Params
) -> dict[str, str]:
    out = {
        "autocall_engine": instance,
        "autocall_campaign": spec.campaign_uuid,
        "autocall_lead": lead_uuid,
        "autocall_attempt": str(attempt),
        "autocall_type": str(spec.type_autocall),
    }
    if spec.type_autocall is TypeAutocall.AUDIO:
        out["autocall_application"] = "playback"
        out["autocall_audio_file"] = spec.audio_file
    elif spec.type_autocall is TypeAutocall.VOICE_OTP:
        out["autocall_application"] = "speak"
        out["autocall_tts_text"] = vnread.read_otp(_otp(params), OTP_REPEAT)
    else:
        out["autocall_application"] = "speak"
        text = vnread.render_template(spec.template_text, params)
        out["autocall_tts_text"] = text.replace(SPEAK_SEPARATOR, " ")
    return out
