"""A real single-node KRaft Apache Kafka broker for the test suite.

The broker comes from Maven Central (see ``tests/kafka/pom.xml``): Maven copies its
classpath once into a cache directory outside the repository, and every later run starts
``java -cp '<cache>/lib/*' kafka.Kafka`` straight from that cache, offline.

Usage::

    broker = KafkaBroker()
    broker.start()                 # resolves jars if needed, waits until ready
    print(broker.bootstrap)        # "127.0.0.1:<port>"
    await broker.create_topics(["a", "b"], partitions=3)
    broker.stop()

``python -m tests.kafka_broker`` runs one in the foreground until Ctrl-C.

``KafkaBroker(secure=True)`` adds a ``SASL_SSL`` listener (``broker.secure``): a CA and the
broker's certificate are generated with openssl into the broker's temp dir at start, with
one SCRAM user per SCRAM mechanism (``StorageTool format --add-scram``) and one PLAIN
user (JAAS in server.properties); the passwords are random per run. Nothing secret
outlives the temp dir, which ``stop()`` deletes. The PLAINTEXT listener stays (inter-broker
traffic and test set-up use it).

Environment:

* ``DIALER_KAFKA_CACHE``: the jar cache directory (default
  ``$XDG_CACHE_HOME/autocall-dialer/kafka-<version>``, i.e. ``~/.cache/...``).
* ``JAVA_HOME`` / ``PATH``: where ``java`` and ``mvn`` are found.

Linux only (pidfd, PR_SET_PDEATHSIG, fcntl), like the machines that run the suite.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import ctypes
import dataclasses
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any, Final, TypeVar

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, for_code

from tests.cache_lock import file_lock

__all__ = [
    "KafkaBroker", "KafkaBrokerError", "SecureListener", "create_topics", "wait_until_ready",
]

KAFKA_DIR: Final = Path(__file__).resolve().parent / "kafka"
POM: Final = KAFKA_DIR / "pom.xml"
LOG4J2_CONFIG: Final = KAFKA_DIR / "log4j2.properties"

MAVEN_DEPENDENCY_PLUGIN: Final = "org.apache.maven.plugins:maven-dependency-plugin:3.7.1"
CACHE_ENV: Final = "DIALER_KAFKA_CACHE"
MARKER_NAME: Final = ".complete.json"
NODE_ID: Final = 1
READY_TIMEOUT_S: Final = 60.0
STOP_TIMEOUT_S: Final = 15.0
WORKDIR_PREFIX: Final = "dialer-kafka-"
OWNER_FILE: Final = "owner.pid"
_TOPIC_ALREADY_EXISTS: Final = 36

_T = TypeVar("_T")


class KafkaBrokerError(RuntimeError):
    """The broker (or Maven) failed; the message carries the relevant log tail."""


SASL_MECHANISMS: Final = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclasses.dataclass(frozen=True)
class SecureListener:
    """How to reach a broker's SASL_SSL listener: its address, the CA that signed its
    certificate (PEM, issued for 127.0.0.1 and localhost), and one user per mechanism."""

    bootstrap: str
    cafile: Path
    users: Mapping[str, tuple[str, str]]  # mechanism → (username, password)


def make_tls_material(directory: Path) -> tuple[Path, Path, str]:
    """A throw-away CA and a broker certificate it signs (SAN 127.0.0.1 and localhost),
    the broker's in a PKCS12 keystore. Returns (CA PEM, keystore, keystore password)."""
    directory.mkdir(mode=0o700)
    password = secrets.token_urlsafe(18)
    ca_key, ca_pem = directory / "ca.key", directory / "ca.pem"
    key, csr, pem = directory / "broker.key", directory / "broker.csr", directory / "broker.pem"
    ext = directory / "san.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    keystore = directory / "broker.p12"
    for cmd in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_pem,
         "-days", "2", "-subj", "/CN=autocall-dialer test CA"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
         "-subj", "/CN=localhost"],
        ["x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key, "-CAcreateserial",
         "-out", pem, "-days", "2", "-extfile", ext],
        ["pkcs12", "-export", "-in", pem, "-inkey", key, "-certfile", ca_pem,
         "-name", "broker", "-out", keystore, "-passout", f"pass:{password}"],
    ):
        done = subprocess.run(["openssl", *map(str, cmd)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, check=False, timeout=60)
        if done.returncode != 0:
            raise KafkaBrokerError(f"openssl {cmd[0]} failed:\n{done.stdout.decode()[-2000:]}")
    return ca_pem, keystore, password


def kafka_version(pom: Path = POM) -> str:
    """The Kafka version pinned by the ``kafka.version`` property of ``pom``."""
    match = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", pom.read_text())
    if match is None:
        raise KafkaBrokerError(f"no <kafka.version> property in {pom}")
    return match.group(1)


def default_cache_dir(version: str) -> Path:
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "autocall-dialer" / f"kafka-{version}"


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that were free a moment ago."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def random_cluster_id() -> str:
    """A cluster id in Kafka's ``Uuid.toString()`` form (22 chars of url-safe base64).

    Like Kafka's ``Uuid.randomUuid()``, never one starting with "-": StorageTool's argument
    parser would read ``-t -x…`` as a missing value (it failed 1 run in 64 before this).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


def _run_in_fresh_loop(factory: Callable[[], Awaitable[_T]]) -> _T:
    """Run a coroutine to completion on its own loop in a helper thread.

    Works whether or not the caller already runs an event loop (sync fixtures,
    ``python -m``, or code called from inside an async test).
    """

    async def main() -> _T:
        return await factory()

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kafka-probe") as pool:
        return pool.submit(asyncio.run, main()).result()


async def _describe_cluster(bootstrap: str, timeout_s: float) -> dict[str, Any]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=max(1000, int(timeout_s * 1000)),
        retry_backoff_ms=50,
    )
    try:
        async with asyncio.timeout(timeout_s):
            await admin.start()
            info: dict[str, Any] = await admin.describe_cluster()
            return info
    finally:
        await admin.close()


async def _tcp_connect(bootstrap: str, timeout_s: float) -> None:
    host, _, port = bootstrap.rpartition(":")
    async with asyncio.timeout(timeout_s):
        _, writer = await asyncio.open_connection(host, int(port))
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def wait_until_ready(
    bootstrap: str,
    *,
    timeout_s: float = READY_TIMEOUT_S,
    node_id: int | None = NODE_ID,
    process: subprocess.Popen[bytes] | None = None,
) -> dict[str, Any]:
    """Poll a Metadata request until the broker lists ``node_id`` as alive.

    KRaft only lists unfenced brokers in Metadata, so this means the broker
    has registered with the controller and accepts produce/fetch/admin
    requests. With ``process``, give up as soon as that process exits.
    Returns the ``describe_cluster`` answer; raises ``TimeoutError``.
    """
    probe = asyncio.ensure_future(_poll_until_ready(bootstrap, timeout_s, node_id))
    watcher = asyncio.ensure_future(_process_exit(process))
    try:
        await asyncio.wait({probe, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if probe.done():
            return probe.result()
        raise KafkaBrokerError("broker process exited while waiting for readiness")
    finally:
        for task in (probe, watcher):
            task.cancel()
        await asyncio.gather(probe, watcher, return_exceptions=True)


async def _process_exit(process: subprocess.Popen[bytes] | None) -> None:
    """Return when ``process`` exits (never, for ``None``), via a Linux pidfd."""
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()
    if process is None:
        await exited
        return
    pidfd = os.pidfd_open(process.pid)  # readable once the process has exited
    try:
        loop.add_reader(pidfd, _resolve, exited)
        try:
            if process.poll() is None:
                await exited
        finally:
            loop.remove_reader(pidfd)
    finally:
        os.close(pidfd)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _poll_until_ready(
    bootstrap: str, timeout_s: float, node_id: int | None
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    backoff = 0.02  # grows to 0.1 s: a refused connect costs microseconds
    last_error: BaseException | None = None
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError(
                f"Kafka at {bootstrap} not ready after {timeout_s:.1f}s"
                f" (last error: {last_error!r})"
            )
        try:
            # A bare TCP connect first: aiokafka logs every refused connection.
            await _tcp_connect(bootstrap, min(1.0, remaining))
            info = await _describe_cluster(bootstrap, min(5.0, remaining))
        except (KafkaError, OSError, TimeoutError) as exc:  # refused, not yet up, ...
            last_error = exc
        else:
            ids = {int(b["node_id"]) for b in info.get("brokers", [])}
            if (node_id is None and ids) or node_id in ids:
                return info
            last_error = KafkaBrokerError(f"broker {node_id} not in metadata yet: {ids}")
        await asyncio.sleep(min(backoff, max(0.0, deadline - loop.time())))
        backoff = min(backoff * 1.5, 0.1)


async def create_topics(
    bootstrap: str,
    names: Iterable[str],
    *,
    partitions: int = 1,
    replication_factor: int = 1,
    configs: Mapping[str, str] | None = None,
    exist_ok: bool = False,
    timeout_s: float = 30.0,
) -> None:
    """Create topics and wait until every partition has a leader in Metadata."""
    wanted = list(names)
    if not wanted:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, retry_backoff_ms=50)
    try:
        async with asyncio.timeout(timeout_s):
            await admin.start()
            response = await admin.create_topics(
                [
                    NewTopic(t, partitions, replication_factor, topic_configs=dict(configs or {}))
                    for t in wanted
                ],
                timeout_ms=int(timeout_s * 1000),
            )
            for err in response.to_object()["topic_errors"]:
                code = int(err["error_code"])
                if code == 0 or (exist_ok and code == _TOPIC_ALREADY_EXISTS):
                    continue
                message = err.get("error_message") or ""
                raise for_code(code)(f"create topic {err['topic']!r}: {message}")
            backoff = 0.02
            while True:
                described = await admin.describe_topics(wanted)
                if all(_topic_ready(t, partitions if not exist_ok else None) for t in described):
                    return
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 0.25)
    finally:
        await admin.close()


def _topic_ready(topic: Mapping[str, Any], partitions: int | None) -> bool:
    parts: list[Mapping[str, Any]] = topic.get("partitions", [])
    if int(topic.get("error_code", 0)) != 0 or not parts:
        return False
    if partitions is not None and len(parts) != partitions:
        return False
    return all(int(p["error_code"]) == 0 and int(p["leader"]) >= 0 for p in parts)


# --------------------------------------------------------------------------- processes


def _set_pdeathsig() -> None:  # pragma: no cover - runs in the child after fork
    """Ask Linux to SIGKILL the child if the (forking thread of the) parent dies."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)


def _stop_process(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _cleanup(
    proc: subprocess.Popen[bytes] | None, workdir: Path | None, log: IO[bytes] | None
) -> None:
    """Finalizer: also runs at interpreter exit if ``stop()`` was never called."""
    try:
        if proc is not None:
            _stop_process(proc, STOP_TIMEOUT_S)
    finally:
        if log is not None:
            log.close()
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


class KafkaBroker:
    """One KRaft broker+controller on free loopback ports, data in a fresh temp dir."""

    def __init__(
        self,
        *,
        cache_dir: Path | None = None,
        java: str | None = None,
        heap: str = "512m",
        jvm_options: Iterable[str] = (),
        extra_properties: Mapping[str, str] | None = None,
        ready_timeout_s: float = READY_TIMEOUT_S,
        secure: bool = False,
    ) -> None:
        self.version = kafka_version()
        self.cache_dir = cache_dir if cache_dir is not None else default_cache_dir(self.version)
        self.java = java or _find_java()
        self.heap = heap
        self.jvm_options = list(jvm_options)
        self.extra_properties = dict(extra_properties or {})
        self.ready_timeout_s = ready_timeout_s
        self.port: int | None = None
        self.controller_port: int | None = None
        self.cluster_id: str | None = None
        self.workdir: Path | None = None
        self.timings: dict[str, float] = {}
        self.want_secure = secure
        self.secure: SecureListener | None = None
        self._secure_props: dict[str, str] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._log: IO[bytes] | None = None

    # ------------------------------------------------------------------ jars

    @property
    def lib_dir(self) -> Path:
        return self.cache_dir / "lib"

    def jars_complete(self) -> bool:
        marker = self.cache_dir / MARKER_NAME
        try:
            data = json.loads(marker.read_text())
        except (OSError, ValueError):
            return False
        if data.get("pom_sha256") != _sha256(POM):
            return False
        jars: list[str] = data.get("jars", [])
        return bool(jars) and all((self.lib_dir / jar).is_file() for jar in jars)

    def ensure_jars(self) -> Path:
        """Return the directory holding the broker classpath, fetching it once.

        A marker written after a successful Maven run (keyed on the pom's
        SHA-256) makes later calls skip Maven entirely. A file lock keeps
        concurrent test processes from resolving into the same directory.
        """
        started = time.monotonic()
        if self.jars_complete():
            self.timings["ensure_jars"] = time.monotonic() - started
            return self.lib_dir
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with file_lock(self.cache_dir / ".lock"):
            if not self.jars_complete():
                self._resolve_jars()
        self.timings["ensure_jars"] = time.monotonic() - started
        return self.lib_dir

    def _resolve_jars(self) -> None:
        mvn = shutil.which("mvn")
        if mvn is None:
            raise KafkaBrokerError("mvn not found on PATH; it is needed once to fetch Kafka")
        (self.cache_dir / MARKER_NAME).unlink(missing_ok=True)
        partial = Path(tempfile.mkdtemp(prefix="lib.partial-", dir=self.cache_dir))
        try:
            cmd = [
                mvn, "-q", "-B", "-f", str(POM),
                f"{MAVEN_DEPENDENCY_PLUGIN}:copy-dependencies",
                f"-DoutputDirectory={partial}",
                "-DincludeScope=runtime",
            ]  # fmt: skip
            result = subprocess.run(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False, timeout=900
            )
            jars = sorted(p.name for p in partial.glob("*.jar"))
            if result.returncode != 0 or not any(j.startswith("kafka_2.13-") for j in jars):
                output = "\n".join(result.stdout.decode(errors="replace").splitlines()[-40:])
                raise KafkaBrokerError(
                    f"Maven failed to fetch Kafka {self.version} (exit {result.returncode}):\n"
                    f"$ {' '.join(cmd)}\n{output}"
                )
            shutil.rmtree(self.lib_dir, ignore_errors=True)
            partial.chmod(0o755)  # mkdtemp makes it 0700
            partial.rename(self.lib_dir)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        marker = {"pom_sha256": _sha256(POM), "version": self.version, "jars": jars}
        tmp = self.cache_dir / f"{MARKER_NAME}.tmp"
        tmp.write_text(json.dumps(marker, indent=1))
        tmp.replace(self.cache_dir / MARKER_NAME)

    # ------------------------------------------------------------------ lifecycle

    @property
    def bootstrap(self) -> str:
        if self.port is None:
            raise KafkaBrokerError("broker not started")
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path:
        if self.workdir is None:
            raise KafkaBrokerError("broker not started")
        return self.workdir / "broker.log"

    def start(self, *, attempts: int = 3) -> str:
        """Start the broker and block until it is ready; return the bootstrap address.

        Retries with new ports when the process dies early (a port grabbed by
        someone else between picking and binding it).
        """
        if self._proc is not None:
            raise KafkaBrokerError("broker already started")
        self.ensure_jars()
        for attempt in range(1, attempts + 1):
            try:
                self._start_once()
            except KafkaBrokerError as exc:
                log_text = tail(self.log_path) if self.workdir is not None else ""
                self.stop()
                if attempt < attempts and "Address already in use" in log_text:
                    continue
                raise KafkaBrokerError(f"{exc}\n--- broker log tail ---\n{log_text}") from exc
            except BaseException:  # e.g. Ctrl-C or a hung StorageTool: leave nothing behind
                self.stop()
                raise
            return self.bootstrap
        raise AssertionError("unreachable")

    def _start_once(self) -> None:
        _remove_stale_workdirs()
        self.workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
        (self.workdir / OWNER_FILE).write_text(str(os.getpid()))
        self.port, self.controller_port, secure_port = free_ports(3)
        self.cluster_id = random_cluster_id()
        scram: list[str] = []
        if self.want_secure:
            scram = self._prepare_secure(secure_port)
        props = self.workdir / "server.properties"
        props.write_text(self._server_properties())
        props.chmod(0o600)  # holds the PLAIN users' passwords

        t0 = time.monotonic()
        fmt = subprocess.run(
            # C1 only: a short-lived tool starts ~0.2 s faster without C2.
            [*self._java_cmd("-XX:TieredStopAtLevel=1"), "kafka.tools.StorageTool", "format",
             "-t", self.cluster_id, "-c", str(props), "--standalone", *scram],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False, timeout=120,
        )  # fmt: skip
        self.timings["format"] = time.monotonic() - t0
        self.log_path.write_bytes(b"$ StorageTool format\n" + fmt.stdout)
        if fmt.returncode != 0:
            raise KafkaBrokerError(f"kafka StorageTool format failed (exit {fmt.returncode})")

        self._spawn()

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL) and delete its temp dir. Idempotent."""
        finalizer, self._finalizer = self._finalizer, None
        if finalizer is not None:
            finalizer()
        elif self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self._proc = None
        self.workdir = None
        self.secure = None

    def _spawn(self) -> None:
        """Run the broker on the formatted data dir and wait until it is ready."""
        assert self.workdir is not None
        props = self.workdir / "server.properties"
        log = self._log = self.log_path.open("ab")
        t1 = time.monotonic()
        # PR_SET_PDEATHSIG fires when the *thread* that forked exits: only use it
        # from the main thread, whose end is the end of the test run.
        use_pdeathsig = (
            sys.platform == "linux" and threading.current_thread() is threading.main_thread()
        )
        self._proc = subprocess.Popen(
            [*self._java_cmd(*self.jvm_options), "kafka.Kafka", str(props)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            start_new_session=True,  # Ctrl-C in a terminal reaches us, we stop it cleanly
            preexec_fn=_set_pdeathsig if use_pdeathsig else None,
        )
        self._finalizer = weakref.finalize(self, _cleanup, self._proc, self.workdir, log)
        proc = self._proc
        try:
            _run_in_fresh_loop(
                lambda: wait_until_ready(
                    self.bootstrap,
                    timeout_s=self.ready_timeout_s,
                    process=proc,
                )
            )
        except (TimeoutError, KafkaBrokerError) as exc:
            raise KafkaBrokerError(f"Kafka {self.version} did not become ready: {exc}") from exc
        self.timings["start_to_ready"] = time.monotonic() - t1

    def halt(self, *, kill: bool = False) -> None:
        """Stop the broker process (SIGTERM, or SIGKILL with ``kill``) but keep its data
        dir, ports and cluster id, so that ``resume()`` brings back the same broker."""
        if self._proc is None or self.workdir is None:
            raise KafkaBrokerError("broker not running")
        finalizer, self._finalizer = self._finalizer, None
        if finalizer is not None:
            finalizer.detach()
        proc, self._proc = self._proc, None
        if kill:
            proc.kill()
            proc.wait(10)
        else:
            _stop_process(proc, STOP_TIMEOUT_S)
        if self._log is not None:
            self._log.close()
            self._log = None
        # Halted and never resumed: stop() (or exit) still removes the data dir.
        self._finalizer = weakref.finalize(self, _cleanup, None, self.workdir, None)

    def resume(self) -> str:
        """Start a halted broker again on the same data and ports; wait until ready."""
        if self._proc is not None or self.workdir is None:
            raise KafkaBrokerError("resume() needs a halted broker")
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        self._spawn()
        return self.bootstrap

    def _prepare_secure(self, port: int) -> list[str]:
        """TLS material and users for the SASL_SSL listener; returns the ``--add-scram``
        arguments of StorageTool format (KRaft stores SCRAM credentials in its metadata)."""
        assert self.workdir is not None
        cafile, keystore, store_password = make_tls_material(self.workdir / "tls")
        users = {mech: (f"dialer-{mech.lower()}", secrets.token_urlsafe(18))
                 for mech in SASL_MECHANISMS}
        plain_name, plain_password = users["PLAIN"]
        prefix = "listener.name.sasl_ssl."
        self._secure_props = {
            "sasl.enabled.mechanisms": ",".join(SASL_MECHANISMS),
            f"{prefix}sasl.enabled.mechanisms": ",".join(SASL_MECHANISMS),
            f"{prefix}plain.sasl.jaas.config": (
                "org.apache.kafka.common.security.plain.PlainLoginModule required "
                f'user_{plain_name}="{plain_password}";'
            ),
            **{f"{prefix}{mech.lower()}.sasl.jaas.config":
               "org.apache.kafka.common.security.scram.ScramLoginModule required;"
               for mech in SASL_MECHANISMS if mech.startswith("SCRAM")},
            f"{prefix}ssl.keystore.type": "PKCS12",
            f"{prefix}ssl.keystore.location": str(keystore),
            f"{prefix}ssl.keystore.password": store_password,
            f"{prefix}ssl.key.password": store_password,
        }
        self.secure = SecureListener(f"127.0.0.1:{port}", cafile, users)
        scram: list[str] = []
        for mech, (name, password) in users.items():
            if mech.startswith("SCRAM"):
                scram += ["--add-scram", f"{mech}=[name={name},password={password}]"]
        return scram

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def create_topics(
        self,
        names: Iterable[str],
        *,
        partitions: int = 1,
        configs: Mapping[str, str] | None = None,
        exist_ok: bool = False,
    ) -> None:
        await create_topics(
            self.bootstrap, names, partitions=partitions, configs=configs, exist_ok=exist_ok
        )

    # ------------------------------------------------------------------ helpers

    def _java_cmd(self, *extra: str) -> list[str]:
        return [
            self.java,
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}",
            *extra,
            "-cp",
            f"{self.lib_dir}/*",
        ]

    def _server_properties(self) -> str:
        assert self.workdir is not None
        listeners = f"PLAINTEXT://127.0.0.1:{self.port}"
        protocols = "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
        if self.secure is not None:
            listeners += f",SASL_SSL://{self.secure.bootstrap}"
            protocols += ",SASL_SSL:SASL_SSL"
        props = {
            "process.roles": "broker,controller",
            "node.id": str(NODE_ID),
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "listeners": f"{listeners},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": listeners,
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": protocols,
            "log.dirs": str(self.workdir / "data"),
            "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            **self._secure_props,
            **self.extra_properties,
        }
        return "".join(f"{k}={v}\n" for k, v in props.items())


def _find_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise KafkaBrokerError("java not found (set JAVA_HOME or put java on PATH)")
    return java


def _remove_stale_workdirs() -> None:
    """Delete temp dirs of brokers whose owning test process was killed.

    The broker itself died with its owner (PR_SET_PDEATHSIG); only its data
    dir can be left behind when the owner got SIGKILL/SIGTERM.
    """
    for workdir in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"):
        try:
            owner = int((workdir / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if owner == os.getpid() or _pid_alive(owner):
            continue
        shutil.rmtree(workdir, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    """Run a broker in the foreground: prints the bootstrap address, stops on Ctrl-C."""
    broker = KafkaBroker()
    t0 = time.monotonic()
    broker.ensure_jars()
    print(f"jars: {broker.lib_dir} ({time.monotonic() - t0:.1f}s)", flush=True)
    broker.start()
    print(
        f"Kafka {broker.version} ready in {broker.timings['start_to_ready']:.1f}s"
        f" (format {broker.timings['format']:.1f}s); log: {broker.log_path}",
        flush=True,
    )
    print(f"bootstrap: {broker.bootstrap}", flush=True)
    print("Ctrl-C to stop", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())  # also when started with SIGINT ignored
    try:
        while not stop.wait(0.5) and broker.running:
            pass
        if not stop.is_set():
            print(f"broker exited; log tail:\n{tail(broker.log_path)}", file=sys.stderr)
    finally:
        broker.stop()
        print("stopped", flush=True)


if __name__ == "__main__":
    main()
