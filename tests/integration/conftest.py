# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures and helpers for Herald's wire-level integration tests.

Which server is under test: env HERALD_SERVER = "heraldd" (default) or "nats-server".
  heraldd:     $HERALD_BUILD/bin/heraldd -a 127.0.0.1 -p PORT --store_dir TMPDIR
               (HERALD_BUILD defaults to "build", relative to the repository root)
  nats-server: nats-server -a 127.0.0.1 -p PORT -js -sd TMPDIR
               (JetStream on, so that INFO carries "jetstream":true like heraldd's)
Extra arguments for either: env HERALD_SERVER_ARGS (split on blanks).

Fixtures
  server        module-scoped running server: .url .port .host .proc .pid .kind .store_dir,
                .restart(), .stop(), .log_tail(); checked after every test that it is still
                alive (a crash fails that test and the server is started again).
  fresh_server  function-scoped server of its own, for tests that must not share state.
  server_factory  make(extra_args=(), config=None): function-scoped servers with extra
                arguments or a `-c FILE` config; ServerProcess.kill9() SIGKILLs one.

Helpers (import from conftest)
  RawClient                    raw-socket NATS client with exact-byte reads and timeouts
  run_client(name, *args)      run build/tests/clients/<name> (nats.c), building it if needed
  run_node(script, *args)      run `node tests/js/<script>.mjs` (nats.js 2.29.3)
  assert_server_serves(srv)    a new client can still pub/sub through the server
  JsClient(server)             RawClient with headers on and its own inbox, for JetStream:
                               .request() .api("STREAM.INFO.S") .publish() .create_stream() .stream_info()
  encode_headers / parse_headers   NATS header blocks to and from dicts
  unique(prefix)               a subject prefix not used by any other test

Every socket read is bounded (<= 5 s), every subprocess has a timeout, and only the PIDs
started here are ever signalled.
"""
from __future__ import annotations

import atexit
import itertools
import json
import os
import re
import resource
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import pytest

REPO = Path(__file__).resolve().parents[2]
_build = Path(os.environ.get("HERALD_BUILD", "build"))
BUILD = _build if _build.is_absolute() else REPO / _build
SERVER_KIND = os.environ.get("HERALD_SERVER", "heraldd").strip() or "heraldd"
if SERVER_KIND not in ("heraldd", "nats-server"):
    raise pytest.UsageError(f"HERALD_SERVER must be 'heraldd' or 'nats-server', not {SERVER_KIND!r}")
IS_NATS_SERVER = SERVER_KIND == "nats-server"
JS_DIR = REPO / "tests" / "js"

START_TIMEOUT = 10.0     # seconds for the server to accept a connection and send INFO
STOP_TIMEOUT = 10.0      # seconds for the server to exit after SIGTERM
SOCK_TIMEOUT = 5.0       # the longest any single socket wait may take

MAX_PAYLOAD = 1048576

only_heraldd = pytest.mark.skipif(IS_NATS_SERVER, reason="heraldd-specific behaviour")


def _raise_nofile_limit() -> None:
    """Lift the soft fd limit to the hard one: the 500-connection tests need ~1000 fds in the
    client and in the server (which inherits it from this process)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            pass


_raise_nofile_limit()

_counter = itertools.count(1)


def unique(prefix: str = "t") -> str:
    """A subject token sequence no other test (or earlier run against the same server) uses."""
    return f"{prefix}.{os.getpid()}.{next(_counter)}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------
# The server under test
# --------------------------------------------------------------------------------------
_STARTED: list["ServerProcess"] = []


def _kill_leftovers() -> None:
    # Only processes this module started, by their own Popen handle.
    for srv in _STARTED:
        if srv.proc is not None and srv.proc.poll() is None:
            try:
                srv.proc.kill()
                srv.proc.wait(timeout=5)
            except Exception:
                pass


atexit.register(_kill_leftovers)


class ServerProcess:
    """One server process on 127.0.0.1, restartable on the same port and store dir."""

    def __init__(self, workdir: Path, kind: str = SERVER_KIND, extra_args: Sequence[str] = ()):
        self.kind = kind
        self.extra_args = [str(a) for a in extra_args]
        self.host = "127.0.0.1"
        self.port: int = 0
        self.workdir = Path(workdir)
        self.store_dir = self.workdir / "store"
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.proc: Optional[subprocess.Popen] = None
        self.expected_running = False
        self.starts = 0
        self.last_info: dict = {}
        self._log_fh = None
        self._stopped = False

    # -- properties ------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def log_path(self) -> Path:
        return self.workdir / f"server.{self.starts}.log"

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])

    def command(self) -> list[str]:
        if self.kind == "heraldd":
            binary = BUILD / "bin" / "heraldd"
            if not binary.exists():
                pytest.fail(f"heraldd binary not found at {binary} (build it with `make`, "
                            f"or set HERALD_SERVER=nats-server)", pytrace=False)
            # the HTTP head gets its own free port (http_port, exposed as .http_url)
            if not getattr(self, "http_port", None):
                self.http_port = free_port()
            cmd = [str(binary), "-a", self.host, "-p", str(self.port),
                   "--store_dir", str(self.store_dir), "--http_port", str(self.http_port)]
        else:
            cmd = ["nats-server", "-a", self.host, "-p", str(self.port),
                   "-js", "-sd", str(self.store_dir)]
        cmd += self.extra_args
        cmd += shlex.split(os.environ.get("HERALD_SERVER_ARGS", ""))
        return cmd

    @property
    def http_url(self) -> str:
        """Base URL of heraldd's HTTP head (REST, SSE, monitoring)."""
        return f"http://{self.host}:{self.http_port}"

    # -- lifecycle -------------------------------------------------------------------
    def start(self, port: Optional[int] = None) -> "ServerProcess":
        """Start on `port` (a fresh free port when None); a fresh port is retried twice if
        the process dies at once (another process may have taken the port meanwhile)."""
        attempts = 1 if port else 3
        for attempt in range(attempts):
            self.port = port or free_port()
            self._spawn()
            err = self._wait_ready()
            if err is None:
                self.expected_running = True
                return self
            exited = self.proc.poll() is not None
            self._reap()
            if not exited or attempt == attempts - 1:
                pytest.fail(f"{self.kind} did not become ready on {self.url}: {err}\n"
                            f"command: {' '.join(self.command())}\n"
                            f"--- server log ---\n{self.log_tail()}", pytrace=False)
        raise AssertionError("unreachable")

    def _spawn(self) -> None:
        self._stopped = False
        self.starts += 1
        self._log_fh = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=self._log_fh, stderr=subprocess.STDOUT,
                                     cwd=str(self.workdir))
        _STARTED.append(self)

    def _wait_ready(self) -> Optional[str]:
        deadline = time.monotonic() + START_TIMEOUT
        last = "no connection attempt"
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                return f"process exited with code {rc} before accepting connections"
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0) as s:
                    s.settimeout(max(0.1, min(SOCK_TIMEOUT, deadline - time.monotonic())))
                    buf = b""
                    while b"\r\n" not in buf:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        buf += chunk
                    if buf.startswith(b"INFO ") and b"\r\n" in buf:
                        self.last_info = json.loads(buf[5:buf.index(b"\r\n")])
                        return None
                    last = f"first bytes were {buf[:200]!r}, expected an INFO line"
            except (OSError, ValueError) as e:
                last = f"{type(e).__name__}: {e}"
            time.sleep(0.05)
        return f"timed out after {START_TIMEOUT}s ({last})"

    def _reap(self) -> Optional[int]:
        self._stopped = True
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            try:
                rc = self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None
        return rc

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, check: bool = True) -> Optional[int]:
        """SIGTERM the process and wait for it. With check: fail unless it was still running,
        exited within STOP_TIMEOUT and (heraldd only) exited with code 0."""
        self.expected_running = False
        if self.proc is None:
            return None
        if self._stopped:
            return self.proc.returncode
        self._stopped = True
        died_before = self.proc.poll()
        if died_before is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._reap()
                if check:
                    pytest.fail(f"{self.kind} (pid {self.proc.pid}) still running "
                                f"{STOP_TIMEOUT}s after SIGTERM; killed it\n{self.log_tail()}",
                                pytrace=False)
                return None
        else:
            rc = died_before
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None
        if check:
            if died_before is not None:
                pytest.fail(f"{self.kind} had already exited (code {died_before}) before "
                            f"SIGTERM\n{self.log_tail()}", pytrace=False)
            # nats-server 2.9.10 exits with code 1 on SIGTERM (measured); accept its code.
            if self.kind == "heraldd" and rc != 0:
                pytest.fail(f"heraldd exited with code {rc} on SIGTERM, expected 0\n"
                            f"{self.log_tail()}", pytrace=False)
        return rc

    def kill9(self) -> int:
        """SIGKILL the process (a crash: no shutdown code runs) and reap it; returns its
        exit status. start() or restart() brings it back on the same store dir."""
        self.expected_running = False
        assert self.proc is not None and self.proc.poll() is None, \
            f"{self.kind} was not running when kill9() was called\n{self.log_tail()}"
        self._stopped = True
        self.proc.send_signal(signal.SIGKILL)
        rc = self.proc.wait(timeout=STOP_TIMEOUT)
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None
        return rc

    def restart(self, same_port: bool = True) -> "ServerProcess":
        """Stop (SIGTERM, checked) and start again with the same store dir (and port)."""
        port = self.port
        self.stop()
        return self.start(port if same_port else None)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("server"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def fresh_server(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("fresh"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def server_factory(tmp_path_factory) -> Callable[..., ServerProcess]:
    """make(extra_args=(), config=None): a started server of its own with extra command-line
    arguments; `config` is the text of a config file passed with `-c FILE` (heraldd and
    nats-server read the same `jetstream { domain: X }` block). All are stopped (checked)
    at the end of the test."""
    made: list[ServerProcess] = []

    def make(extra_args: Sequence[str] = (), config: Optional[str] = None) -> ServerProcess:
        workdir = tmp_path_factory.mktemp("custom")
        args = list(extra_args)
        if config is not None:
            conf = workdir / "server.conf"
            conf.write_text(config)
            args += ["-c", str(conf)]
        srv = ServerProcess(workdir, extra_args=args)
        made.append(srv)
        return srv.start()

    yield make
    for srv in made:
        srv.stop()


@pytest.fixture(autouse=True)
def _server_still_alive():
    """After each test: any server that should be running but is not has crashed during
    that test. Fail it (with the log) and start the server again for the tests after it."""
    yield
    for srv in list(dict.fromkeys(_STARTED)):
        if srv.expected_running and not srv.is_running():
            rc = srv.proc.returncode
            tail = srv.log_tail()
            srv._reap()
            srv.start()
            pytest.fail(f"{srv.kind} died during this test (exit code {rc})\n"
                        f"--- server log ---\n{tail}", pytrace=False)


# --------------------------------------------------------------------------------------
# Raw-socket client
# --------------------------------------------------------------------------------------
class ConnectionClosed(AssertionError):
    pass


class Msg:
    """A parsed MSG or HMSG."""

    __slots__ = ("op", "subject", "sid", "reply", "headers", "payload", "raw")

    def __init__(self, op, subject, sid, reply, headers, payload, raw):
        self.op, self.subject, self.sid, self.reply = op, subject, sid, reply
        self.headers, self.payload, self.raw = headers, payload, raw

    def __repr__(self):
        return (f"Msg({self.op} {self.subject!r} sid={self.sid!r} reply={self.reply!r} "
                f"hdr={self.headers!r} payload={self.payload[:60]!r}{'...' if len(self.payload) > 60 else ''})")


DEFAULT_CONNECT = {"verbose": False, "pedantic": False}


def _as_port(target) -> tuple[str, int]:
    if isinstance(target, int):
        return "127.0.0.1", target
    if isinstance(target, ServerProcess):
        return target.host, target.port
    if isinstance(target, str):
        m = re.fullmatch(r"(?:nats://)?([^:]+):(\d+)", target)
        assert m, f"bad server address {target!r}"
        return m.group(1), int(m.group(2))
    return target.host, target.port


class RawClient:
    """A NATS client on a bare socket, for exact-byte assertions.

    RawClient(server)                          INFO read, CONNECT {"verbose":false,"pedantic":false}
    RawClient(server, connect={...})           CONNECT with that JSON object (a dict)
    RawClient(server, connect=b"CONNECT ...")  these exact bytes
    RawClient(server, connect=None)            no CONNECT at all
    RawClient(server, read_info=False)         not even the INFO line
    """

    def __init__(self, target, connect: Union[dict, bytes, None] = DEFAULT_CONNECT,
                 timeout: float = SOCK_TIMEOUT, read_info: bool = True):
        assert timeout <= SOCK_TIMEOUT
        self.host, self.port = _as_port(target)
        self.timeout = timeout
        self.buf = b""
        self.closed_by_peer = False
        self.sock = socket.create_connection((self.host, self.port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.info: dict = {}
        self.info_line = b""
        if read_info:
            self.info_line = self.read_line()
            assert self.info_line.startswith(b"INFO "), f"first line is not INFO: {self.info_line!r}"
            self.info = json.loads(self.info_line[5:])
        if connect is not None:
            if isinstance(connect, dict):
                connect = b"CONNECT " + json.dumps(connect).encode() + b"\r\n"
            self.send(connect)

    # -- plumbing ----------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_tolerant(self, data: bytes) -> bool:
        """Send, reporting False instead of raising when the server has hung up already."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("timed out")
        self.sock.settimeout(min(remaining, SOCK_TIMEOUT))
        try:
            chunk = self.sock.recv(1 << 20)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.closed_by_peer = True
            raise ConnectionClosed(f"server closed the connection; unread bytes: {self.buf[:300]!r}")
        self.buf += chunk

    def _deadline(self, timeout: Optional[float]) -> float:
        t = self.timeout if timeout is None else min(timeout, SOCK_TIMEOUT)
        return time.monotonic() + t

    # -- reading -----------------------------------------------------------------------
    def read_exact(self, n: int, timeout: Optional[float] = None) -> bytes:
        deadline = self._deadline(timeout)
        while len(self.buf) < n:
            try:
                self._fill(deadline)
            except socket.timeout:
                raise AssertionError(f"timed out waiting for {n} bytes; have {len(self.buf)}: "
                                     f"{self.buf[:200]!r}") from None
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_line(self, timeout: Optional[float] = None) -> bytes:
        """The next CRLF-terminated line, without the CRLF."""
        deadline = self._deadline(timeout)
        while b"\r\n" not in self.buf:
            try:
                self._fill(deadline)
            except socket.timeout:
                raise AssertionError(f"timed out waiting for a line; have {self.buf[:200]!r}") from None
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_until(self, pattern: Union[bytes, "re.Pattern[bytes]"],
                   timeout: Optional[float] = None) -> bytes:
        """Everything up to and including the first match of pattern (bytes or regex)."""
        deadline = self._deadline(timeout)
        while True:
            if isinstance(pattern, bytes):
                i = self.buf.find(pattern)
                end = i + len(pattern) if i >= 0 else -1
            else:
                m = pattern.search(self.buf)
                end = m.end() if m else -1
            if end >= 0:
                out, self.buf = self.buf[:end], self.buf[end:]
                return out
            try:
                self._fill(deadline)
            except socket.timeout:
                raise AssertionError(f"timed out waiting for {pattern!r}; have {self.buf[:300]!r}") from None

    def read_msg(self, timeout: Optional[float] = None) -> Msg:
        """Parse exactly one MSG or HMSG (fails on anything else)."""
        deadline = self._deadline(timeout)
        line = self.read_line(max(0.01, deadline - time.monotonic()))
        parts = line.split(b" ")
        op = parts[0]
        if op == b"MSG" and len(parts) in (4, 5):
            subject, sid = parts[1], parts[2]
            reply = parts[3] if len(parts) == 5 else None
            hdr_len, total = 0, int(parts[-1])
        elif op == b"HMSG" and len(parts) in (5, 6):
            subject, sid = parts[1], parts[2]
            reply = parts[3] if len(parts) == 6 else None
            hdr_len, total = int(parts[-2]), int(parts[-1])
        else:
            raise AssertionError(f"expected MSG/HMSG, got {line!r}")
        body = self.read_exact(total + 2, max(0.01, deadline - time.monotonic()))
        assert body.endswith(b"\r\n"), f"message body not followed by CRLF: {body[-20:]!r}"
        raw = line + b"\r\n" + body
        return Msg(op.decode(), subject.decode(), sid.decode(), reply.decode() if reply else None,
                   body[:hdr_len] if op == b"HMSG" else None, body[hdr_len:total], raw)

    def ping(self, timeout: Optional[float] = None) -> bytes:
        """Send PING and return every byte that arrived before the PONG. The server handles a
        connection's input in order, so the result is everything caused so far."""
        self.send(b"PING\r\n")
        data = self.read_until(b"PONG\r\n", timeout)
        return data[:-len(b"PONG\r\n")]

    def expect_nothing(self) -> None:
        got = self.ping()
        assert got == b"", f"expected nothing before PONG, got {got!r}"

    def expect_closed(self, timeout: Optional[float] = None) -> bytes:
        """Wait for the server to close the connection; return the bytes it sent first."""
        deadline = self._deadline(timeout)
        while True:
            try:
                self._fill(deadline)
            except ConnectionClosed:
                data, self.buf = self.buf, b""
                return data
            except socket.timeout:
                raise AssertionError(f"connection still open after {self.timeout}s; "
                                     f"received {self.buf[:300]!r}") from None

    def expect_open(self) -> None:
        """The connection is still served: PING gets PONG with nothing before it."""
        got = self.ping()
        assert got == b"", f"unexpected bytes before PONG: {got!r}"

    def sub(self, subject: str, sid, queue: Optional[str] = None) -> None:
        q = f" {queue}" if queue else ""
        self.send(f"SUB {subject}{q} {sid}\r\n".encode())

    def pub(self, subject: str, payload: bytes, reply: Optional[str] = None) -> None:
        r = f" {reply}" if reply else ""
        self.send(f"PUB {subject}{r} {len(payload)}\r\n".encode() + payload + b"\r\n")

    def hpub(self, subject: str, headers: bytes, payload: bytes, reply: Optional[str] = None) -> None:
        r = f" {reply}" if reply else ""
        self.send(f"HPUB {subject}{r} {len(headers)} {len(headers) + len(payload)}\r\n".encode()
                  + headers + payload + b"\r\n")


def encode_headers(headers: Union[dict, list, None]) -> bytes:
    """A NATS header block (`NATS/1.0` + `Key: Value` lines) from a dict or (key, value) list."""
    items = headers.items() if isinstance(headers, dict) else (headers or [])
    return b"NATS/1.0\r\n" + b"".join(f"{k}: {v}\r\n".encode() for k, v in items) + b"\r\n"


def parse_headers(block: Optional[bytes]) -> tuple[Optional[int], dict]:
    """(status code or None, {key: value}) of a NATS header block (last value wins)."""
    if not block:
        return None, {}
    lines = block.decode(errors="replace").split("\r\n")
    first = lines[0].split(" ", 2)
    status = int(first[1]) if len(first) > 1 and first[1].isdigit() else None
    out = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return status, out


class JsClient(RawClient):
    """A RawClient for JetStream: CONNECT with headers and no_responders, subscribed to its own
    inbox. request() returns the reply Msg (answering PINGs meanwhile); api() a JSON response;
    publish() a PubAck (or JetStream error) as a dict."""

    def __init__(self, target, timeout: float = SOCK_TIMEOUT, domain: Optional[str] = None):
        super().__init__(target, connect={"verbose": False, "pedantic": False, "headers": True,
                                          "no_responders": True}, timeout=timeout)
        self.domain = domain
        self.inbox = f"_INBOX.{os.getpid()}_{next(_counter)}_{time.monotonic_ns()}"
        self._n = 0
        self.sub(self.inbox + ".*", "jsinbox")
        self.expect_open()

    def next_msg(self, timeout: Optional[float] = None) -> Msg:
        """The next MSG/HMSG; PINGs are answered and PONG/+OK skipped on the way."""
        deadline = self._deadline(timeout)
        while True:
            line = self.read_line(max(0.01, deadline - time.monotonic()))
            if line == b"PING":
                self.send(b"PONG\r\n")
                continue
            if line in (b"PONG", b"+OK"):
                continue
            assert line.startswith((b"MSG ", b"HMSG ")), f"expected a message, got {line!r}"
            self.buf = line + b"\r\n" + self.buf
            return self.read_msg(max(0.01, deadline - time.monotonic()))

    def request(self, subject: str, payload: bytes = b"", headers=None,
                timeout: Optional[float] = None) -> Msg:
        self._n += 1
        reply = f"{self.inbox}.{self._n}"
        if headers is None:
            self.pub(subject, payload, reply)
        else:
            self.hpub(subject, headers if isinstance(headers, bytes) else encode_headers(headers),
                      payload, reply)
        deadline = self._deadline(timeout)
        while True:  # skip late replies to earlier requests
            m = self.next_msg(max(0.01, deadline - time.monotonic()))
            if m.subject == reply:
                return m

    def api(self, op: str, body=None, domain: Optional[str] = None) -> dict:
        """Request `$JS.API.<op>` (`$JS.<domain>.API.<op>` with a domain); body is a dict
        (sent as JSON), bytes (sent as they are) or None (empty)."""
        domain = domain or self.domain
        subject = f"$JS.{domain}.API.{op}" if domain else f"$JS.API.{op}"
        payload = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        m = self.request(subject, payload)
        status, _ = parse_headers(m.headers)
        assert status is None, f"{subject}: status {status} instead of a JSON response: {m!r}"
        return json.loads(m.payload)

    def publish(self, subject: str, payload: bytes = b"", headers=None) -> dict:
        m = self.request(subject, payload, headers)
        status, _ = parse_headers(m.headers)
        assert status is None, f"publish on {subject}: status {status} instead of a PubAck: {m!r}"
        return json.loads(m.payload)

    def create_stream(self, name: str, subjects: Optional[list] = None, **config) -> dict:
        """STREAM.CREATE; fails the test unless the stream was created."""
        cfg = {"name": name, **config}
        if subjects is not None:
            cfg["subjects"] = subjects
        r = self.api(f"STREAM.CREATE.{name}", cfg)
        assert "error" not in r, f"creating stream {name} failed: {r}"
        return r

    def stream_info(self, name: str, subjects_filter: Optional[str] = None) -> dict:
        r = self.api(f"STREAM.INFO.{name}", {"subjects_filter": subjects_filter} if subjects_filter else None)
        assert "error" not in r, f"STREAM.INFO.{name}: {r}"
        return r


def assert_server_serves(target) -> None:
    """A brand-new client can subscribe, publish and receive its own message."""
    subj = unique("alive")
    with RawClient(target) as c:
        c.send(f"SUB {subj} 1\r\nPUB {subj} 2\r\nok\r\n".encode())
        got = c.ping()
        assert got == f"MSG {subj} 1 2\r\nok\r\n".encode(), f"server no longer serves: {got!r}"


# --------------------------------------------------------------------------------------
# nats.c and nats.js client programs
# --------------------------------------------------------------------------------------
_built: set[str] = set()


def client_path(name: str) -> Path:
    """Path of the compiled nats.c client; (re)built through the Makefile once per session."""
    path = BUILD / "tests" / "clients" / name
    if name not in _built:
        src = REPO / "tests" / "integration" / "clients" / f"{name}.c"
        assert src.exists(), f"no such client source {src}"
        try:
            rel = path.relative_to(REPO)
        except ValueError:
            rel = None
        if rel is not None:
            cmd = ["make", "--no-print-directory", "-C", str(REPO), str(rel)]
            if str(rel).startswith("build/san/"):
                cmd.append("SAN=1")
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            if r.returncode != 0:
                pytest.fail(f"building {rel} failed:\n{r.stdout}\n{r.stderr}", pytrace=False)
        if not path.exists():
            pytest.fail(f"nats.c client {path} does not exist", pytrace=False)
        _built.add(name)
    return path


def run_client(name: str, *args, timeout: float = 30.0, check: bool = True) -> subprocess.CompletedProcess:
    """Run $HERALD_BUILD/tests/clients/<name> with args; fail on a non-zero exit (check)."""
    cmd = [str(client_path(name))] + [str(a) for a in args]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{name} timed out after {timeout}s\nstdout: {e.stdout!r}\nstderr: {e.stderr!r}",
                    pytrace=False)
    if check and r.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}",
                    pytrace=False)
    return r


def json_lines(text: str) -> list:
    return [json.loads(line) for line in text.splitlines() if line.strip().startswith(("{", "["))]


def run_client_json(name: str, *args, timeout: float = 30.0):
    """Run a nats.c client and return its last JSON line, parsed."""
    r = run_client(name, *args, timeout=timeout)
    objs = json_lines(r.stdout)
    assert objs, f"{name} printed no JSON:\n{r.stdout}\n{r.stderr}"
    return objs[-1]


_node_ready = False


def _ensure_node_modules() -> None:
    global _node_ready
    if _node_ready:
        return
    if not (JS_DIR / "node_modules" / "nats" / "package.json").exists():
        r = subprocess.run([str(REPO / "scripts" / "deps")], cwd=str(REPO), capture_output=True,
                           text=True, timeout=600)
        if r.returncode != 0 or not (JS_DIR / "node_modules" / "nats").exists():
            pytest.fail(f"tests/js/node_modules/nats missing and scripts/deps failed:\n"
                        f"{r.stdout}\n{r.stderr}", pytrace=False)
    _node_ready = True


def run_node(script: str, *args, timeout: float = 30.0, check: bool = True) -> subprocess.CompletedProcess:
    """Run `node tests/js/<script>.mjs args...` from tests/js (where node_modules/nats is)."""
    _ensure_node_modules()
    name = script if script.endswith(".mjs") else script + ".mjs"
    path = JS_DIR / name
    assert path.exists(), f"no such script {path}"
    env = dict(os.environ)
    env["NODE_PATH"] = str(JS_DIR / "node_modules")
    cmd = ["node", str(path)] + [str(a) for a in args]
    try:
        r = subprocess.run(cmd, cwd=str(JS_DIR), env=env, capture_output=True, text=True,
                           timeout=timeout)
    except FileNotFoundError:
        pytest.fail("node is not installed (scripts/deps installs it)", pytrace=False)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{name} timed out after {timeout}s\nstdout: {e.stdout!r}\nstderr: {e.stderr!r}",
                    pytrace=False)
    if check and r.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}",
                    pytrace=False)
    return r


def run_node_json(script: str, *args, timeout: float = 30.0):
    r = run_node(script, *args, timeout=timeout)
    objs = json_lines(r.stdout)
    assert objs, f"{script} printed no JSON:\n{r.stdout}\n{r.stderr}"
    return objs[-1]
