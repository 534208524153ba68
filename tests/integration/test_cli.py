# SPDX-License-Identifier: Apache-2.0
"""The `herald` command-line tool ($HERALD_BUILD/bin/herald) against the server under test.

Checks what a shell user sees: stdout, the one-line stderr messages and the exit codes
(0 ok, 1 runtime failure, 2 usage error) of pub, sub, req and reply. Uses only the
`server` fixture (.url, .port) from conftest.py. Every subprocess has a timeout and only
processes started here are signalled, by their Popen handle.
"""
from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_build = Path(os.environ.get("HERALD_BUILD", "build"))
HERALD = str((_build if _build.is_absolute() else REPO / _build) / "bin" / "herald")

RUN_TIMEOUT = 10.0    # seconds for any one short-lived herald run
READY_TIMEOUT = 5.0   # seconds for a sub/reply to say "listening on"

_seq = itertools.count(1)


def subject(prefix: str) -> str:
    return f"cli.{prefix}.{os.getpid()}.{next(_seq)}"


def clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("HERALD_URL", "NATS_URL")}
    env.update(extra)
    return env


def herald(*args: str, url: str | None = None, input: bytes | None = None,
           env: dict | None = None, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
    """Run herald to completion; stdin is /dev/null unless `input` is given."""
    argv = [HERALD] + (["-s", url] if url else []) + list(args)
    return subprocess.run(argv, input=input,
                          stdin=None if input is not None else subprocess.DEVNULL,
                          capture_output=True, timeout=timeout,
                          env=env if env is not None else clean_env())


class Background:
    """A long-running herald (sub, reply) whose stdout and stderr are drained by threads."""

    def __init__(self, *args: str, url: str):
        self.proc = subprocess.Popen([HERALD, "-s", url] + list(args), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=clean_env())
        self.out = bytearray()
        self.err = bytearray()
        self.ready = threading.Event()
        self._threads = [
            threading.Thread(target=self._drain, args=(self.proc.stdout, self.out, False),
                             daemon=True),
            threading.Thread(target=self._drain, args=(self.proc.stderr, self.err, True),
                             daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _drain(self, stream, sink: bytearray, watch: bool) -> None:
        for line in iter(stream.readline, b""):
            sink.extend(line)
            if watch and line.startswith(b"herald: listening on"):
                self.ready.set()
        self.ready.set()  # EOF: never block wait_ready(); it checks the process state

    def wait_ready(self) -> "Background":
        assert self.ready.wait(READY_TIMEOUT), f"no 'listening on' within {READY_TIMEOUT}s"
        assert self.proc.poll() is None, f"exited {self.proc.returncode}: {bytes(self.err)!r}"
        return self

    def wait(self, timeout: float = RUN_TIMEOUT) -> int:
        try:
            rc = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for t in self._threads:
            t.join(timeout=5)
        return rc

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.wait()


@pytest.fixture(autouse=True)
def _need_binary():
    if not os.access(HERALD, os.X_OK):
        pytest.fail(f"{HERALD} not built (make build/bin/herald)", pytrace=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------ usage, --help
def test_version_and_help():
    r = herald("--version")
    assert r.returncode == 0
    assert r.stdout.startswith(b"herald ") and b"nats.c" in r.stdout
    r = herald("pub", "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"usage: herald pub SUBJECT [DATA] [options]\n")
    assert b"--header KEY:VALUE" in r.stdout and b"--queue" not in r.stdout


@pytest.mark.parametrize("args, message", [
    ((), b"herald: missing command\n"),
    (("frobnicate",), b"herald: unknown command 'frobnicate'\n"),
    (("pub",), b"herald: missing SUBJECT\n"),
    (("req", "a.b"), b"herald: missing DATA\n"),
    (("pub", "a.b", "x", "--bogus"), b"herald: unknown option '--bogus'\n"),
    (("pub", "a.b", "x", "--queue", "q"), b"herald: option '--queue' does not apply to 'pub'\n"),
    (("sub", "a.b", "--count"), b"herald: option '--count' needs a value (N)\n"),
    (("sub", "a.b", "--count", "0"), b"herald: invalid count '0' for --count"),
    (("req", "a.b", "x", "--timeout", "5parsecs"), b"herald: invalid duration '5parsecs'"),
    (("pub", "a.b", "x", "-H", "nocolon"), b"herald: invalid header 'nocolon'"),
    (("pub", "a b", "x"), b"herald: invalid subject 'a b'"),
    (("pub", "a.*", "x"), b"herald: invalid subject 'a.*'"),
])
def test_usage_errors_exit_2(args, message):
    r = herald(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.startswith(message), r.stderr
    assert b"\nusage: herald" in r.stderr
    assert r.stdout == b""


def test_connection_refused_exit_1():
    url = f"nats://127.0.0.1:{free_port()}"
    for args in (("pub", "a.b", "x"), ("req", "a.b", "x"), ("sub", "a.b")):
        r = herald(*args, url=url, timeout=5)
        assert r.returncode == 1, (args, r.stderr)
        assert r.stderr.startswith(f"herald: cannot connect to {url}: ".encode()), r.stderr
        assert r.stderr.count(b"\n") == 1, r.stderr  # one line, no usage text
        assert r.stdout == b""


# ------------------------------------------------------------------------------ pub/sub
def test_pub_sub_headers_reply_and_layout(server):
    subj = subject("layout")
    sub = Background("sub", subj, "--count", "2", url=server.url).wait_ready()
    r = herald("pub", subj, "hello", url=server.url)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
    r = herald("pub", subj, "with headers", "-H", "X-One: 1", "--reply", "inbox.x", url=server.url)
    assert r.returncode == 0, r.stderr
    assert sub.wait() == 0, bytes(sub.err)
    assert bytes(sub.out) == (
        f'[#1] Received on "{subj}"\nhello\n\n'
        f'[#2] Received on "{subj}" with reply "inbox.x"\nX-One: 1\n\nwith headers\n\n'
    ).encode()


def test_pub_count_template_and_raw(server):
    subj = subject("count")
    sub = Background("sub", subj, "--raw", "-v", "--count", "3", url=server.url).wait_ready()
    r = herald("pub", subj, "n={{Count}}", "--count", "3", url=server.url)
    assert r.returncode == 0, r.stderr
    assert sub.wait() == 0, bytes(sub.err)
    assert bytes(sub.out) == b"n=1\nn=2\nn=3\n"


def test_pub_reads_stdin(server):
    subj = subject("stdin")
    sub = Background("sub", subj, "--raw", "-v", "--count", "1", url=server.url).wait_ready()
    r = herald("pub", subj, url=server.url, input=b"line one\nline two")
    assert r.returncode == 0, r.stderr
    assert sub.wait() == 0, bytes(sub.err)
    assert bytes(sub.out) == b"line one\nline two\n"


def test_sub_wildcard_and_sigint_exits_0(server):
    base = subject("wild")
    sub = Background("sub", base + ".>", "--raw", "-v", url=server.url).wait_ready()
    for leaf in ("a", "b.c"):
        assert herald("pub", f"{base}.{leaf}", leaf, url=server.url).returncode == 0
    deadline = time.monotonic() + 5
    while bytes(sub.out).count(b"\n") < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sub.interrupt() == 0, bytes(sub.err)
    assert bytes(sub.out) == b"a\nb.c\n"


def test_queue_group_delivers_each_message_once(server):
    subj = subject("queue")
    members = [Background("sub", subj, "--queue", "workers", "--raw", "-v", url=server.url)
               for _ in range(2)]
    for m in members:
        m.wait_ready()
    r = herald("pub", subj, "m{{Count}}", "--count", "20", url=server.url)
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 5
    while sum(bytes(m.out).count(b"\n") for m in members) < 20 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)  # a duplicate delivery would show up here
    assert [m.interrupt() for m in members] == [0, 0]
    got = [line for m in members for line in bytes(m.out).splitlines()]
    assert sorted(got) == sorted(f"m{i}".encode() for i in range(1, 21))


# ---------------------------------------------------------------------------- req/reply
def test_req_reply(server):
    subj = subject("svc")
    rep = Background("reply", subj, "echo:{{Request}}", "--count", "1", url=server.url).wait_ready()
    r = herald("req", subj, "ping", "-H", "Trace: 7", url=server.url)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"echo:ping\n", b"")
    assert rep.wait() == 0, bytes(rep.err)
    out = bytes(rep.out)
    assert out.startswith(f'[#1] Received on "{subj}" with reply "'.encode()), out
    assert b"\nTrace: 7\n\nping\n\n" in out


def test_reply_queue_group_answers_once(server):
    subj = subject("svcq")
    reps = [Background("reply", subj, f"from-{i}", "--queue", "svc", url=server.url)
            for i in range(2)]
    for rep in reps:
        rep.wait_ready()
    answers = []
    for _ in range(4):
        r = herald("req", subj, "x", url=server.url)
        assert r.returncode == 0, r.stderr
        answers.append(r.stdout)
    assert [rep.interrupt() for rep in reps] == [0, 0]
    assert set(answers) <= {b"from-0\n", b"from-1\n"}
    handled = sum(bytes(rep.out).count(b"] Received on") for rep in reps)
    assert handled == 4  # each request reached exactly one member


def test_req_no_responders(server):
    start = time.monotonic()
    r = herald("req", subject("nobody"), "x", "--timeout", "5s", url=server.url)
    elapsed = time.monotonic() - start
    assert r.returncode == 1
    assert r.stderr == b"herald: no responders available for request\n"
    assert r.stdout == b""
    assert elapsed < 3.0, f"took {elapsed:.2f}s: waited for the timeout instead of the 503"


def test_req_timeout(server):
    subj = subject("silent")
    silent = Background("sub", subj, "--raw", "-v", url=server.url).wait_ready()  # never answers
    start = time.monotonic()
    r = herald("req", subj, "x", "--timeout", "300ms", url=server.url)
    elapsed = time.monotonic() - start
    assert silent.interrupt() == 0
    assert r.returncode == 1
    assert r.stderr == f'herald: request timed out: no reply on "{subj}" within 300ms\n'.encode()
    assert r.stdout == b""
    assert 0.25 <= elapsed < 3.0, elapsed
    assert bytes(silent.out) == b"x\n"  # the request did reach the subscriber


# -------------------------------------------------------------------------- server URL
def test_server_url_from_environment(server):
    dead = f"nats://127.0.0.1:{free_port()}"
    subj = subject("env")
    ok = herald("pub", subj, "x", env=clean_env(HERALD_URL=server.url))
    assert ok.returncode == 0, ok.stderr
    ok = herald("pub", subj, "x", env=clean_env(NATS_URL=server.url))
    assert ok.returncode == 0, ok.stderr
    bad = herald("pub", subj, "x", env=clean_env(HERALD_URL=dead, NATS_URL=server.url))
    assert bad.returncode == 1 and dead.encode() in bad.stderr  # HERALD_URL wins
    flag = herald("pub", subj, "x", url=server.url, env=clean_env(HERALD_URL=dead))
    assert flag.returncode == 0, flag.stderr  # --server wins over the environment
