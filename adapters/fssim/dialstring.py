"""Parsing of `originate` arguments with FreeSWITCH's own splitting rules.

Reimplemented from the behaviour of switch_separate_string, cleanup_separated_string,
switch_find_end_paren and switch_event_create_brackets (switch_utils.c, switch_event.c) and
the dial-string handling of switch_ivr_originate.c:

* Arguments split on spaces; a `'...'` quote keeps spaces; `\\x` keeps x from splitting.
  After splitting, quotes are removed and `\\'` `\\"` `\\\\` `\\n` `\\r` `\\t` `\\s` unescaped.
* `{a=1,b=2}` (global), `<a=1>` (enterprise) and `[a=1]` (per leg) variable lists split on
  `,` unless escaped as `\\,` or inside `'...'`; `^^X` at the start of a list makes X the
  separator. Each item splits on the first `=` only; items without `=` are ignored.
* `|` separates targets tried one after another, `,` targets rung at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "DialError",
    "Leg",
    "OriginateArgs",
    "parse_brackets",
    "parse_originate",
    "separate",
    "split_args",
]

ORIGINATE_SYNTAX = (
    "<call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] "
    "[<cid_name>] [<cid_num>] [<timeout_sec>]"
)
_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", "s": " "}


class DialError(Exception):
    """An originate that FreeSWITCH would refuse; `cause` is what it would print."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


def _cleanup(token: str, delim: str) -> str:
    """Strip quotes and leading/trailing spaces, resolve escapes (cleanup_separated_string)."""
    if "\\" not in token and "'" not in token:
        return token.strip(" ")
    i = 0
    while i < len(token) and token[i] == " ":
        i += 1
    out: list[str] = []
    end: int | None = None
    inside = False
    n = len(token)
    while i < n:
        ch = token[i]
        if ch == "\\" and i + 1 < n:
            nxt = token[i + 1]
            if nxt in "'\"\\" or (delim and nxt == delim) or nxt in _UNESCAPE:
                out.append(_UNESCAPE.get(nxt, nxt))
                end = len(out)
                i += 2
                continue
        if ch == "'" and (inside or "'" in token[i + 1 :]):
            inside = not inside
            if inside:
                end = len(out)
        else:
            out.append(ch)
            if ch != " " or inside:
                end = len(out)
        i += 1
    return "".join(out if end is None else out[:end])


def separate(text: str, delim: str, limit: int = 1024) -> list[str]:
    """switch_separate_string: split on `delim` outside quotes and escapes, then clean up.

    Once `limit` tokens exist the last one takes the rest of the string, unsplit.
    """
    if text.startswith("^^") and len(text) >= 4:
        delim, text = text[2], text[3:]
    if delim == " ":
        return split_args(text, limit)
    if "\\" not in text and "'" not in text:
        # No quoting or escaping: a plain split, minus the empty token after a final delim.
        tokens = text.split(delim, limit - 1) if text else []
        if len(tokens) > 1 and tokens[-1] == "":
            tokens.pop()
        return [t.strip(" ") for t in tokens]
    bounds: list[tuple[int, int]] = []
    inside = False
    start: int | None = None
    i, n = 0, len(text)
    while i < n:
        if start is None:
            start = i
            if len(bounds) + 1 == limit:
                break
        ch = text[i]
        if ch == "\\":
            i += 1
        elif ch == "'" and (inside or "'" in text[i + 1 :]):
            inside = not inside
        elif ch == delim and not inside:
            bounds.append((start, i))
            start = None
        i += 1
    if start is not None:
        bounds.append((start, n))
    return [_cleanup(text[a:b], delim) for a, b in bounds]


def split_args(text: str, limit: int = 10) -> list[str]:
    """switch_separate_string with a space: `'` toggles quoting without lookahead."""
    bounds: list[tuple[int, int]] = []
    i, n = 0, len(text)
    while i < n:
        start = i
        if len(bounds) + 1 == limit:
            bounds.append((start, n))
            break
        while i < n and text[i] == " ":
            i += 1
        inside = False
        while i < n:
            ch = text[i]
            if ch == "\\":
                i += 1
            elif ch == "'":
                inside = not inside
            elif ch == " " and not inside:
                break
            i += 1
        bounds.append((start, min(i, n)))
        while i < n and text[i] == " ":
            i += 1
    return [_cleanup(text[a:b], "") for a, b in bounds]


def _end_paren(text: str, start: int, opener: str, closer: str) -> int | None:
    i = start
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text) or text[i] != opener:
        return None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == opener and (opener != closer or j == i):
            depth += 1
        elif text[j] == closer:
            depth -= 1
            if depth == 0:
                return j
    return None


def parse_brackets(
    text: str, opener: str, closer: str, delim: str = ","
) -> tuple[dict[str, str], str]:
    """Leading `{...}` groups → (variables in order, rest of the string)."""
    variables: dict[str, str] = {}
    rest = text.lstrip(" ")
    while rest.startswith(opener):
        end = _end_paren(rest, 0, opener, closer)
        if end is None:
            raise DialError("INVALID_URL")
        for item in separate(rest[1:end], delim):
            pair = separate(item, "=", limit=2)
            if len(pair) == 2:
                variables[pair[0]] = pair[1]
        rest = rest[end + 1 :].lstrip(" ")
    return variables, rest


@dataclass(frozen=True, slots=True)
class Leg:
    """One dial target: `[vars]sofia/gateway/gw/0901234567`."""

    target: str
    variables: dict[str, str]
    endpoint: str
    number: str
    channel_name: str
    gateway: str | None = None
    host: str = ""


@dataclass(frozen=True, slots=True)
class OriginateArgs:
    dial: str
    global_vars: dict[str, str]
    # Outer list: `|` groups tried in turn; inner list: `,` legs rung together.
    groups: list[list[Leg]]
    exten: str
    dialplan: str = "XML"
    context: str = "default"
    cid_name: str | None = None
    cid_num: str | None = None
    timeout: int = 60
    application: str | None = None
    application_arg: str = field(default="")


def _leg(text: str) -> Leg:
    variables, target = parse_brackets(text, "[", "]", _LEG_COMMA)
    target = target.strip()
    parts = target.split("/")
    endpoint = parts[0].lower()
    if endpoint == "error" and len(parts) > 1:
        return Leg(target, variables, "error", parts[1], target)
    if endpoint == "sofia" and len(parts) >= 4 and parts[1] == "gateway":
        gateway = parts[2]
        dest = "/".join(parts[3:]).split(";")[0]
        number = dest.removeprefix("sip:").split("@")[0]
        return Leg(target, variables, "sofia", number, f"sofia/external/{dest}", gateway, gateway)
    if endpoint == "sofia" and len(parts) >= 3:
        dest = "/".join(parts[2:]).split(";")[0]
        user, _, host = dest.removeprefix("sip:").partition("@")
        return Leg(target, variables, "sofia", user, f"sofia/{parts[1]}/{dest}", None, host)
    if endpoint in ("loopback", "user") and len(parts) >= 2:
        user, _, host = parts[1].partition("@")
        return Leg(target, variables, endpoint, user, target, None, host)
    if not target or len(parts) < 2:
        raise DialError("INVALID_URL" if not target else "CHAN_NOT_IMPLEMENTED")
    raise DialError("CHAN_NOT_IMPLEMENTED")


def parse_originate(arg: str) -> OriginateArgs:
    """Parse the argument of `originate`; DialError("-USAGE") when the shape is wrong."""
    argv = split_args(arg, 10)
    if len(argv) < 2 or len(argv) > 7:
        raise DialError("-USAGE")
    args: list[str | None] = [None if a.lower() == "undef" else a for a in argv]
    args += [None] * (7 - len(args))
    dial, exten = args[0] or "", args[1] or ""
    global_vars: dict[str, str] = {}
    rest = dial
    for opener, closer in (("<", ">"), ("{", "}")):
        found, rest = parse_brackets(rest, opener, closer)
        global_vars.update(found)
    groups: list[list[Leg]] = []
    for pipe in separate(rest, "|"):
        groups.append([_leg(p) for p in _split_legs(pipe) if p.strip()])
    if not groups or not all(groups):
        raise DialError("INVALID_URL")
    application, app_arg = None, ""
    if exten.startswith("&") and len(exten) > 1:
        name = exten[1:].split(")")[0]
        application, _, app_arg = name.partition("(")
    timeout = 60
    if args[6]:
        digits = "".join(c for c in args[6] if c.isdigit())
        timeout = int(digits) if digits else 0
    return OriginateArgs(
        dial=dial,
        global_vars=global_vars,
        groups=groups,
        exten=exten,
        dialplan=args[2] or "XML",
        context=args[3] or "default",
        cid_name=args[4],
        cid_num=args[5],
        timeout=timeout,
        application=application,
        application_arg=app_arg,
    )


# switch_ivr_originate swaps commas inside `[...]` for this byte before splitting legs on `,`,
# then splits the `[...]` list on it, so per-leg lists may hold unescaped commas.
_LEG_COMMA = "\x02"


def _split_legs(pipe: str) -> list[str]:
    marked: list[str] = []
    end: int | None = None
    quoted = False
    for i, ch in enumerate(pipe):
        if end is None and ch == "[":
            end = _end_paren(pipe, i, "[", "]")
            quoted = False
        if ch == "'":
            quoted = not quoted
        if end is not None and i < end and ch == "," and i and pipe[i - 1] != "\\":
            ch = "," if quoted else _LEG_COMMA
        if i == end:
            end = None
        marked.append(ch)
    return separate("".join(marked), ",")
