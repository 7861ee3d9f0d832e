"""The API commands (`api X` / `bgapi X`) the simulator knows, with mod_commands' output text.

Every handler returns the exact stream text FreeSWITCH would write; `originate` alone answers
later, through the callback. An unknown command gives `-ERR <cmd> Command not found!\\n`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from adapters.fssim.calls import CallEngine, Limits
from adapters.fssim.channel import CAUSE_CODES, SimChannel
from adapters.fssim.dialstring import split_args
from adapters.fssim.events import Identity, local_stamp

__all__ = ["VERSION", "ApiHandler"]

VERSION = "1.10.12-release+git~20240802T000000Z~fssim~64bit"



def _columns(text: str) -> list[str]:
    return text.split(",")


CHANNEL_COLUMNS = _columns(
    "uuid,direction,created,created_epoch,name,state,cid_name,cid_num,ip_addr,dest,application,"
    "application_data,dialplan,context,read_codec,read_rate,read_bit_rate,write_codec,write_rate,"
    "write_bit_rate,secure,hostname,presence_id,presence_data,accountcode,callstate,callee_name,"
    "callee_num,callee_direction,call_uuid,sent_callee_name,sent_callee_num,initial_cid_name,"
    "initial_cid_num,initial_ip_addr,initial_dest,initial_dialplan,initial_context"
)
CALL_COLUMNS = _columns(
    "uuid,direction,created,created_epoch,name,state,cid_name,cid_num,ip_addr,dest,presence_id,"
    "presence_data,accountcode,callstate,callee_name,callee_num,callee_direction,call_uuid,"
    "hostname,sent_callee_name,sent_callee_num,b_uuid,b_direction,b_created,b_created_epoch,"
    "b_name,b_state,b_cid_name,b_cid_num,b_ip_addr,b_dest,b_presence_id,b_presence_data,"
    "b_accountcode,b_callstate,b_callee_name,b_callee_num,b_callee_direction,"
    "b_sent_callee_name,b_sent_callee_num,call_created_epoch"
)
SHOW_SYNTAX = "codec|endpoint|application|api|dialplan|file|timer|calls [count]|channels [count]"
KILL_SYNTAX = "<uuid> [cause]"
FSCTL_SYNTAX = "[hupall|pause [inbound|outbound]|resume [inbound|outbound]|sps|max_sessions]"


@dataclass(slots=True)
class ApiHandler:
    engine: CallEngine
    limits: Limits
    identity: Identity
    started: float = field(default_factory=time.monotonic)
    global_vars: dict[str, str] = field(default_factory=dict)

    def execute(self, cmd: str, arg: str, on_done: Callable[[str], None]) -> None:
        name = cmd.lower()
        if name == "originate":
            self.engine.originate(arg, on_done)
            return
        handler = _HANDLERS.get(name)
        if handler is None:
            on_done(f"-ERR {cmd} Command not found!\n")
            return
        on_done(handler(self, arg))

    # --- channels ------------------------------------------------------------------------------

    def _row(self, chan: SimChannel) -> dict[str, str]:
        answered = chan.answered
        app = chan.variables.get("current_application", "") if answered else ""
        codec = ("PCMA", "8000", "64000") if answered or chan.early else ("", "", "")
        created = chan.created_us // 1_000_000
        return dict(zip(CHANNEL_COLUMNS, (
            chan.uuid, "outbound", local_stamp(created), str(created), chan.name, chan.state,
            chan.cid_name, chan.cid_num, chan.host, chan.destination, app,
            chan.variables.get("current_application_data", "") if app else "", "XML", "default",
            *codec, *codec, "", self.identity.hostname, "", "", "", chan.callstate,
            "Outbound Call" if answered else "", chan.destination if answered else "", "",
            chan.uuid, "", "", chan.cid_name, chan.cid_num, chan.host, chan.destination, "XML",
            "default",
        ), strict=True))  # fmt: skip

    def _call_row(self, chan: SimChannel) -> dict[str, str]:
        row = self._row(chan)
        out = {c: row.get(c, "") for c in CALL_COLUMNS}
        out["call_created_epoch"] = row["created_epoch"]
        return out

    def show(self, arg: str) -> str:
        argv = split_args(arg, 10)
        if not argv:
            return f"-USAGE: {SHOW_SYNTAX}\n"
        what = argv[0].lower()
        fmt = "delim"
        if "as" in [a.lower() for a in argv[1:-1]]:
            fmt = argv[[a.lower() for a in argv].index("as") + 1].lower()
        if what not in ("channels", "calls"):
            return f"-USAGE: {SHOW_SYNTAX}\n"
        chans = sorted(self.engine.channels.values(), key=lambda c: c.created_us)
        count_only = len(argv) > 1 and argv[1].lower() == "count"
        rows = [self._row(c) if what == "channels" else self._call_row(c) for c in chans]
        if fmt == "json":
            if not rows and not count_only:
                return '{"row_count": 0}\n'
            body = {"row_count": len(rows), "rows": [] if count_only else rows}
            return orjson.dumps(body).decode()
        if fmt not in ("delim", "csv"):
            return f"-ERR Cannot find format {fmt}\n"
        if count_only or not rows:
            return f"\n{len(rows)} total.\n"
        columns = CHANNEL_COLUMNS if what == "channels" else CALL_COLUMNS
        lines = [",".join(columns)] + [",".join(r[c] for c in columns) for r in rows]
        return "\n".join(lines) + f"\n\n{len(rows)} total.\n"

    def status(self, arg: str) -> str:
        up = time.monotonic() - self.started
        us = int(up * 1_000_000)
        secs, micro = divmod(us, 1_000_000)
        mins, sec = divmod(secs, 60)
        hours, minute = divmod(mins, 60)
        days, hour = divmod(hours, 24)
        years, day = divmod(days, 365)
        eng, lim = self.engine, self.limits
        live = len(eng.channels)
        sps_now = max(lim.sps - lim.sps_left, 0)
        return (
            f"UP {years} years, {day} days, {hour} hours, {minute} minutes, {sec} seconds, "
            f"{micro // 1000} milliseconds, {micro % 1000} microseconds\n"
            f"FreeSWITCH (Version {VERSION} (fssim)) is ready\n"
            f"{eng.sessions_since_startup} session(s) since startup\n"
            f"{live} session(s) - peak {eng.max_live}, last 5min {eng.max_live}\n"
            f"{sps_now} session(s) per Sec out of max {lim.sps}, peak {eng.sps_peak}, "
            f"last 5min {eng.sps_peak}\n"
            f"{lim.max_sessions} session(s) max\n"
            "min idle cpu 0.00/99.00\n"
            "Current Stack Size/Max 240K/8192K\n"
        )

    def fsctl(self, arg: str) -> str:
        argv = split_args(arg, 6)
        if not argv:
            return f"-USAGE: {FSCTL_SYNTAX}\n"
        sub = argv[0].lower()
        value = _atoi(argv[1]) if len(argv) > 1 else 0
        if sub == "sps":
            if value > 0:
                self.limits.sps = value
            return f"+OK sessions per second: {self.limits.sps}\n"
        if sub == "max_sessions":
            if value > 0:
                self.limits.max_sessions = value
            return f"+OK max sessions: {self.limits.max_sessions}\n"
        if sub in ("pause", "resume"):
            target = argv[1].lower() if len(argv) > 1 else "all"
            if target in ("outbound", "all"):
                self.limits.paused_outbound = sub == "pause"
            return "+OK\n"
        if sub == "hupall":
            self.engine.hupall("MANAGER_REQUEST")
            return "+OK\n"
        return "-ERR INVALID COMMAND\n"

    def hupall(self, arg: str) -> str:
        argv = split_args(arg, 11)
        cause = argv[0].upper() if argv else "MANAGER_REQUEST"
        if cause not in CAUSE_CODES or cause == "NONE":
            cause = "MANAGER_REQUEST"
        pairs = {argv[i]: argv[i + 1] for i in range(1, len(argv) - 1, 2) if argv[i + 1]}
        self.engine.hupall(cause, pairs or None)
        if not pairs:
            return f"+OK hangup all channels with cause {cause}\n"
        more = "..." if len(pairs) > 1 else ""
        matching = f"[{argv[1]}]=[{argv[2]}]{more}"
        return f"+OK hangup all channels matching {matching} with cause: {cause}\n"

    def uuid_kill(self, arg: str) -> str:
        if not arg.strip():
            return f"-USAGE: {KILL_SYNTAX}\n"
        uid, _, cause = arg.strip().partition(" ")
        cause = cause.strip().upper() or "NORMAL_CLEARING"
        if cause not in CAUSE_CODES:
            cause = "NONE"
        return "+OK\n" if self.engine.kill(uid, cause) else "-ERR No such channel!\n"

    def uuid_exists(self, arg: str) -> str:
        return "true" if arg.strip() in self.engine.channels else "false"

    def uuid_getvar(self, arg: str) -> str:
        argv = arg.split()
        chan = self.engine.channels.get(argv[0]) if argv else None
        if chan is None or len(argv) < 2:
            return "-ERR No such channel!\n" if argv else "-USAGE: <uuid> <var>\n"
        return chan.variables.get(argv[1], "_undef_")

    def uuid_setvar(self, arg: str) -> str:
        argv = arg.split(" ", 2)
        chan = self.engine.channels.get(argv[0]) if argv else None
        if chan is None or len(argv) < 2:
            return "-ERR No such channel!\n"
        if len(argv) > 2:
            chan.set_var(argv[1], argv[2])
        else:
            chan.unset_var(argv[1])
        return "+OK\n"

    def uuid_record(self, arg: str) -> str:
        argv = arg.split()
        chan = self.engine.channels.get(argv[0]) if argv else None
        if chan is None or len(argv) < 3:
            return "-USAGE: <uuid> [start|stop|mask|unmask] <path> [<limit>]\n"
        now = self.engine.hub.clock.now_us()
        if argv[1] == "start":
            self.engine.media.start_recording(chan, argv[2], now)
            return "+OK Success\n"
        if argv[1] == "stop":
            return "+OK Success\n" if self.engine.media.stop_recording(chan, now) else "-ERR\n"
        return "-ERR Cannot execute command\n"

    def version(self, arg: str) -> str:
        return f"FreeSWITCH Version {VERSION} (fssim)\n"

    def global_getvar(self, arg: str) -> str:
        return self.global_vars.get(arg.strip(), "")

    def global_setvar(self, arg: str) -> str:
        name, _, value = arg.partition("=")
        self.global_vars[name.strip()] = value.strip()
        return "+OK\n"

    def hostname(self, arg: str) -> str:
        return self.identity.hostname

    def uptime(self, arg: str) -> str:
        return str(int(time.monotonic() - self.started))

    def echo(self, arg: str) -> str:
        return arg


def _atoi(text: str) -> int:
    digits = ""
    for ch in text.strip():
        if not ch.isdigit():
            break
        digits += ch
    return int(digits) if digits else 0


_HANDLERS: dict[str, Callable[[ApiHandler, str], str]] = {
    "show": ApiHandler.show,
    "status": ApiHandler.status,
    "fsctl": ApiHandler.fsctl,
    "hupall": ApiHandler.hupall,
    "uuid_kill": ApiHandler.uuid_kill,
    "uuid_exists": ApiHandler.uuid_exists,
    "uuid_getvar": ApiHandler.uuid_getvar,
    "uuid_setvar": ApiHandler.uuid_setvar,
    "uuid_record": ApiHandler.uuid_record,
    "version": ApiHandler.version,
    "global_getvar": ApiHandler.global_getvar,
    "global_setvar": ApiHandler.global_setvar,
    "hostname": ApiHandler.hostname,
    "uptime": ApiHandler.uptime,
    "echo": ApiHandler.echo,
}
