# SPDX-License-Identifier: Apache-2.0
"""JetStream consumers on the wire, as nats-server 2.9.10 does them (docs/consumers-wire.md).

Raw protocol only: `$JS.API.CONSUMER.*` requests, `CONSUMER.MSG.NEXT` pull requests, acks
published to the `$JS.ACK.…` reply subjects, push delivery to `deliver_subject`, status
messages (`404`, `408`, `409`, `100`) and advisories. Every expectation here was measured
against nats-server 2.9.10 (`HERALD_SERVER=nats-server`). Timing assertions use generous
bounds: they check semantics (e.g. a redelivery comes after ack_wait, never before half of
it), not scheduling precision. No single wait is longer than ~3 s.
"""
from __future__ import annotations

import datetime
import itertools
import json
import os
import re
import time
from typing import Optional

import pytest

from conftest import JsClient, Msg, encode_headers, parse_headers

NS = 1_000_000_000
_seq = itertools.count(1)

CONSUMER_INFO_KEYS = ["type", "stream_name", "name", "created", "config", "delivered", "ack_floor",
                      "num_ack_pending", "num_redelivered", "num_waiting", "num_pending"]


def status_of(m: Msg) -> Optional[tuple[int, str]]:
    """(code, description) of a status message (`NATS/1.0 408 Request Timeout`), else None."""
    if not m.headers:
        return None
    first = m.headers.split(b"\r\n", 1)[0].decode()
    parts = first.split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    return int(parts[1]), (parts[2] if len(parts) > 2 else "")


def go_time(ts_ns: int) -> str:
    """A Unix-nanosecond timestamp the way Go marshals a UTC time.Time (RFC 3339, trailing
    zeros of the fraction dropped)."""
    secs, frac = divmod(ts_ns, NS)
    base = datetime.datetime.fromtimestamp(secs, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    f = f"{frac:09d}".rstrip("0")
    return base + ("." + f if f else "") + "Z"


class Ack:
    """The tokens of `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts_ns>.<pending>`."""

    def __init__(self, reply: str, stream: str, consumer: str):
        m = re.fullmatch(r"\$JS\.ACK\.(?P<s>[^.]+)\.(?P<c>[^.]+)\.(\d+)\.(\d+)\.(\d+)\.(\d+)\.(\d+)", reply or "")
        assert m, f"not a 9-token $JS.ACK reply subject: {reply!r}"
        assert (m.group("s"), m.group("c")) == (stream, consumer), f"ack subject {reply!r} names the wrong stream/consumer"
        self.delivered, self.sseq, self.cseq, self.ts, self.pending = (int(m.group(i)) for i in range(3, 8))

    def __repr__(self):
        return f"Ack(dc={self.delivered} sseq={self.sseq} cseq={self.cseq} pending={self.pending})"


class Env:
    """One stream `self.stream` capturing `self.subj.>`, an API/publish connection and a
    consumer-side connection `cl` (pull requests, deliveries, acks)."""

    def __init__(self, server, **stream_config):
        n = next(_seq)
        self.server = server
        self.stream = f"CW{os.getpid()}_{n}"
        self.subj = f"cw.{os.getpid()}.{n}"
        self.api = JsClient(server)
        self.cl = JsClient(server)
        self.held: list = []   # messages read by sync() before its PONG
        self._r = 0
        self.api.create_stream(self.stream, [self.subj + ".>"], **stream_config)

    def close(self):
        self.api.close()
        self.cl.close()

    # -- stream --------------------------------------------------------------------------
    def pub(self, token: str = "a", payload: bytes = b"x", headers=None) -> int:
        r = self.api.publish(f"{self.subj}.{token}", payload, headers)
        assert "error" not in r, r
        return r["seq"]

    def state(self) -> dict:
        r = self.api.api(f"STREAM.INFO.{self.stream}")
        assert "error" not in r, r
        return r["state"]

    # -- consumer API --------------------------------------------------------------------
    def create_raw(self, config: dict, name: Optional[str] = None, filter_token: Optional[str] = None,
                   legacy: bool = False, extra: Optional[dict] = None, stream_name: Optional[str] = None) -> dict:
        if legacy:
            op = f"CONSUMER.DURABLE.CREATE.{self.stream}.{name}"
        elif name is None:
            op = f"CONSUMER.CREATE.{self.stream}"
        else:
            op = f"CONSUMER.CREATE.{self.stream}.{name}" + (f".{filter_token}" if filter_token else "")
        body = {"stream_name": self.stream if stream_name is None else stream_name, "config": config}
        body.update(extra or {})
        return self.api.api(op, body)

    def durable(self, name: str, **config) -> dict:
        """A durable consumer (CREATE.<stream>.<name>), ack explicit unless given."""
        config.setdefault("ack_policy", "explicit")
        r = self.create_raw({"durable_name": name, **config}, name)
        assert "error" not in r, f"creating consumer {name}: {r}"
        return r

    def info(self, name: str) -> dict:
        return self.api.api(f"CONSUMER.INFO.{self.stream}.{name}")

    # -- pull ----------------------------------------------------------------------------
    def next_reply(self) -> str:
        self._r += 1
        return f"{self.cl.inbox}.p{self._r}"

    def pull(self, consumer: str, body, reply: Optional[str] = None) -> str:
        """Publish a CONSUMER.MSG.NEXT request on `cl`; returns its reply subject."""
        reply = reply or self.next_reply()
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.cl.pub(f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{consumer}", payload, reply)
        return reply

    def read(self, timeout: float = 3.0, client: Optional[JsClient] = None) -> Msg:
        """The next MSG/HMSG on `client` (default cl), including any held back by sync()."""
        client = client or self.cl
        if client is self.cl and self.held:
            return self.held.pop(0)
        return client.next_msg(timeout)

    def collect(self, seconds: float, stop_on_status: bool = True, client: Optional[JsClient] = None,
                t0: Optional[float] = None, data: Optional[int] = None) -> list:
        """[(seconds since t0, Msg)] arriving on `client` (default cl) within `seconds`; stops
        early after a terminal status (anything but 100) when stop_on_status, and after `data`
        non-status messages when given."""
        client = client or self.cl
        t0 = time.monotonic() if t0 is None else t0
        end = time.monotonic() + seconds
        out = []
        n = 0
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return out
            try:
                m = self.read(left, client)
            except AssertionError:
                return out
            out.append((time.monotonic() - t0, m))
            st = status_of(m)
            if stop_on_status and st is not None and st[0] != 100:
                return out
            if st is None:
                n += 1
                if data is not None and n >= data:
                    return out

    def fetch(self, consumer: str, batch: int = 1, expires: float = 0.3, **extra) -> list:
        """Data messages of one expiring pull request (the closing 408 is consumed)."""
        body = {"batch": batch, "expires": int(expires * NS), **extra}
        self.pull(consumer, body)
        got = self.collect(expires + 1.0, data=batch)
        data = [m for _, m in got if status_of(m) is None]
        return data

    def ack(self, m_or_reply, payload: bytes = b"+ACK", reply: Optional[str] = None) -> None:
        subject = m_or_reply if isinstance(m_or_reply, str) else m_or_reply.reply
        self.cl.pub(subject, payload, reply)

    def sync(self) -> None:
        """PING/PONG on cl: everything sent on it so far has been read by the server (acks are
        applied asynchronously by nats-server: poll with wait_info for their effect).
        Messages arriving before the PONG are held for read()/collect()."""
        self.held.extend(ping_keep(self.cl))

    def wait_info(self, name: str, pred, timeout: float = 2.0) -> dict:
        """CONSUMER.INFO polled until pred(info) holds."""
        return settle(self, lambda: (lambda i: i if pred(i) else None)(self.info(name)), timeout)


def ping_keep(c: JsClient) -> list:
    """PING and wait for the PONG, answering server PINGs; returns the messages that arrived
    first (so that nothing is lost)."""
    held = []
    c.send(b"PING\r\n")
    while True:
        line = c.read_line()
        if line == b"PING":
            c.send(b"PONG\r\n")
        elif line == b"PONG":
            return held
        elif line != b"+OK":
            c.buf = line + b"\r\n" + c.buf
            held.append(c.read_msg())


@pytest.fixture
def env(server):
    e = Env(server)
    yield e
    e.close()


@pytest.fixture
def env_factory(server):
    made = []

    def make(**stream_config) -> Env:
        e = Env(server, **stream_config)
        made.append(e)
        return e

    yield make
    for e in made:
        e.close()


def settle(env: Env, pred, timeout: float = 2.0, step: float = 0.05):
    """Poll until pred() is truthy (returns its value) or fail after timeout."""
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = pred()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"condition not reached within {timeout}s (last value {last!r})")


# ======================================================================================
# 1. The consumer API
# ======================================================================================

def test_ephemeral_create_defaults(env):
    env.pub(); env.pub(); env.pub()
    r = env.create_raw({})
    assert list(r.keys()) == CONSUMER_INFO_KEYS, r
    assert r["type"] == "io.nats.jetstream.api.v1.consumer_create_response"
    assert r["stream_name"] == env.stream
    assert re.fullmatch(r"[A-Za-z0-9]{8}", r["name"]), r["name"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", r["created"]), r["created"]
    # an empty config: ack policy none, inactive_threshold 5 s, replicas 0 (inherit)
    assert r["config"] == {"deliver_policy": "all", "ack_policy": "none", "max_deliver": -1,
                           "replay_policy": "instant", "max_waiting": 512,
                           "inactive_threshold": 5 * NS, "num_replicas": 0}
    assert list(r["config"].keys()) == ["deliver_policy", "ack_policy", "max_deliver", "replay_policy",
                                        "max_waiting", "inactive_threshold", "num_replicas"]
    assert r["delivered"] == {"consumer_seq": 0, "stream_seq": 0}
    assert r["ack_floor"] == {"consumer_seq": 0, "stream_seq": 0}
    assert (r["num_ack_pending"], r["num_redelivered"], r["num_waiting"], r["num_pending"]) == (0, 0, 0, 3)
    assert "cluster" not in r and "push_bound" not in r


def test_durable_create_defaults_and_info(env):
    env.pub()
    r = env.create_raw({"durable_name": "D1", "ack_policy": "explicit"}, "D1")
    assert r["name"] == "D1"
    assert r["config"] == {"durable_name": "D1", "name": "D1", "deliver_policy": "all",
                           "ack_policy": "explicit", "ack_wait": 30 * NS, "max_deliver": -1,
                           "replay_policy": "instant", "max_waiting": 512, "max_ack_pending": 1000,
                           "num_replicas": 0}
    assert list(r["config"].keys()) == ["durable_name", "name", "deliver_policy", "ack_policy", "ack_wait",
                                        "max_deliver", "replay_policy", "max_waiting", "max_ack_pending",
                                        "num_replicas"]
    i = env.info("D1")
    assert i["type"] == "io.nats.jetstream.api.v1.consumer_info_response"
    assert list(i.keys()) == CONSUMER_INFO_KEYS
    assert i["created"] == r["created"] and i["config"] == r["config"]
    assert i["num_pending"] == 1


def test_legacy_durable_create_and_named_ephemeral(env):
    r = env.create_raw({"durable_name": "LEG", "ack_policy": "explicit"}, "LEG", legacy=True)
    assert r["name"] == "LEG"
    # the legacy endpoint does not add "name" to the config
    assert "name" not in r["config"] and r["config"]["durable_name"] == "LEG"
    assert "inactive_threshold" not in r["config"]
    # CREATE.<stream>.<name> with only "name": a named *ephemeral* (inactive_threshold 5 s)
    r = env.create_raw({"name": "NAMED"}, "NAMED")
    assert r["name"] == "NAMED"
    assert r["config"]["name"] == "NAMED" and "durable_name" not in r["config"]
    assert r["config"]["inactive_threshold"] == 5 * NS
    # CREATE.<stream>.<name> with an empty config takes the name from the subject
    r = env.create_raw({}, "FROMSUBJ")
    assert r["name"] == "FROMSUBJ" and r["config"]["name"] == "FROMSUBJ"


def test_create_with_filter_subject_token(env):
    f = f"{env.subj}.a"
    r = env.create_raw({"durable_name": "F1", "ack_policy": "explicit", "filter_subject": f}, "F1",
                       filter_token=f, extra={"action": "create"})
    assert "error" not in r, r
    assert r["config"]["filter_subject"] == f
    keys = list(r["config"].keys())
    assert keys.index("filter_subject") == keys.index("max_deliver") + 1
    for cfg in ({"durable_name": "F2", "filter_subject": f"{env.subj}.b"}, {"durable_name": "F2"}):
        r = env.create_raw(cfg, "F2", filter_token=f)
        assert r["error"] == {"code": 400, "err_code": 10131, "description":
                              "Consumer create request did not match filtered subject from create subject"}


def test_create_existing_updates_or_refuses(env):
    """2.9.10 has no create-only mode: CREATE on an existing durable with a different but
    updatable config *updates* it, even with "action":"create" (nats.js sends that)."""
    first = env.durable("U")
    again = env.durable("U")
    assert again["created"] == first["created"] and again["config"] == first["config"]
    upd = env.create_raw({"durable_name": "U", "ack_policy": "explicit", "ack_wait": 5 * NS}, "U",
                         extra={"action": "create"})
    assert "error" not in upd, upd
    assert upd["created"] == first["created"] and upd["config"]["ack_wait"] == 5 * NS
    assert env.info("U")["config"]["ack_wait"] == 5 * NS
    for cfg, what in (({"ack_policy": "none"}, "ack policy"), ({"deliver_policy": "new"}, "deliver policy"),
                      ({"deliver_subject": f"dl.{env.subj}"}, "max waiting")):
        r = env.create_raw({"durable_name": "U", "ack_policy": "explicit", **cfg}, "U")
        assert r["error"] == {"code": 500, "err_code": 10012, "description": f"{what} can not be updated"}, r
    # "action":"update" for a consumer that does not exist still creates it
    r = env.create_raw({"durable_name": "NEWU", "ack_policy": "explicit"}, "NEWU", extra={"action": "update"})
    assert r.get("name") == "NEWU", r


CREATE_ERRORS = [
    # (label, name, legacy, config, stream_name override, code, err_code, description)
    ("stream name mismatch", None, False, {}, "OTHER", 400, 10056, "stream name in subject does not match request"),
    ("ephemeral with durable", None, False, {"durable_name": "X"}, None, 400, 10020,
     "consumer expected to be ephemeral but a durable name was set in request"),
    ("durable mismatch", "X", False, {"durable_name": "Y"}, None, 400, 10017,
     "consumer name in subject does not match durable name in request"),
    ("legacy without durable", "X", True, {}, None, 400, 10018,
     "consumer expected to be durable but a durable name was not set"),
    ("name with dot", None, False, {"name": "a.b"}, None, 400, 10103, "durable name can not contain '.', '*', '>'"),
    ("filter outside stream", None, False, {"filter_subject": "elsewhere.x"}, None, 400, 10093,
     "consumer filter subject is not a valid subset of the interest subjects"),
    ("deliver subject wildcard", None, False, {"deliver_subject": "dw.*"}, None, 400, 10079,
     "consumer deliver subject has wildcards"),
    ("push with max_waiting", None, False, {"deliver_subject": "dmw.x", "max_waiting": 10}, None, 400, 10080,
     "consumer in push mode can not set max waiting"),
    ("negative max_waiting", None, False, {"max_waiting": -1}, None, 400, 10087,
     "consumer max waiting needs to be positive"),
    ("pull with rate limit", None, False, {"rate_limit_bps": 1000}, None, 400, 10086,
     "consumer in pull mode can not have rate limit set"),
    ("pull with heartbeat", None, False, {"idle_heartbeat": NS}, None, 400, 10088,
     "consumer idle heartbeat requires a push based consumer"),
    ("flow control without heartbeat", None, False, {"deliver_subject": "dfc.x", "flow_control": True}, None,
     400, 10108, "consumer with flow control also needs heartbeats"),
    ("backoff without max_deliver", None, False, {"ack_policy": "explicit", "backoff": [NS, 2 * NS]}, None,
     400, 10116, "max deliver is required to be > length of backoff values"),
    ("backoff max_deliver == len", None, False, {"ack_policy": "explicit", "max_deliver": 2, "backoff": [NS, 2 * NS]},
     None, 400, 10116, "max deliver is required to be > length of backoff values"),
    ("by_start_sequence without seq", None, False, {"deliver_policy": "by_start_sequence"}, None, 400, 10094,
     "consumer delivery policy is deliver by start sequence, but optional start sequence is not set"),
    ("by_start_time without time", None, False, {"deliver_policy": "by_start_time"}, None, 400, 10094,
     "consumer delivery policy is deliver by start time, but optional start time is not set"),
    ("all with opt_start_seq", None, False, {"deliver_policy": "all", "opt_start_seq": 3}, None, 400, 10094,
     "consumer delivery policy is deliver all, but optional start sequence is also set"),
    ("last_per_subject without filter", None, False, {"deliver_policy": "last_per_subject"}, None, 400, 10094,
     "consumer delivery policy is deliver last per subject, but optional filter subject is not set"),
    ("bad deliver policy", None, False, {"deliver_policy": "bogus"}, None, 400, 10025, "invalid JSON"),
    ("bad ack policy", None, False, {"ack_policy": "bogus"}, None, 400, 10025, "invalid JSON"),
    ("replicas 3", None, False, {"num_replicas": 3}, None, 500, 10074, "replicas > 1 not supported in non-clustered mode"),
]


@pytest.mark.parametrize("case", CREATE_ERRORS, ids=[c[0] for c in CREATE_ERRORS])
def test_create_errors(env, case):
    _, name, legacy, cfg, sname, code, err_code, desc = case
    r = env.create_raw(cfg, name, legacy=legacy, stream_name=sname)
    assert r == {"type": "io.nats.jetstream.api.v1.consumer_create_response",
                 "error": {"code": code, "err_code": err_code, "description": desc}}, r


def test_create_errors_misc(env):
    api = env.api
    r = api.api("CONSUMER.CREATE.NOSUCHSTREAM_CW", {"stream_name": "NOSUCHSTREAM_CW", "config": {}})
    assert r["error"] == {"code": 404, "err_code": 10059, "description": "stream not found"}
    for body in (b"", b"{x"):
        r = api.api(f"CONSUMER.CREATE.{env.stream}", body)
        assert r["error"] == {"code": 400, "err_code": 10025, "description": "invalid JSON"}
    # deliver_subject that the stream itself captures
    r = env.create_raw({"deliver_subject": f"{env.subj}.loop"})
    assert r["error"] == {"code": 400, "err_code": 10081, "description": "consumer deliver subject forms a cycle"}
    # accepted oddities: ack none with max_ack_pending, pull with deliver_group
    r = env.create_raw({"ack_policy": "none", "max_ack_pending": 10})
    assert r["config"]["max_ack_pending"] == 10
    r = env.create_raw({"deliver_group": "g"})
    assert r["config"]["deliver_group"] == "g"


def test_legacy_create_with_dot_in_subject_gets_no_reply(env):
    """DURABLE.CREATE.<s>.a.b has one token too many: nats-server does not answer at all."""
    reply = env.next_reply()
    env.cl.pub(f"$JS.API.CONSUMER.DURABLE.CREATE.{env.stream}.a.b",
               json.dumps({"stream_name": env.stream, "config": {"durable_name": "a.b"}}).encode(), reply)
    assert env.collect(0.6) == []


def test_max_consumers_limit(env_factory):
    e = env_factory(max_consumers=1)
    e.durable("ONE")
    r = e.create_raw({"durable_name": "TWO"}, "TWO")
    assert r["error"] == {"code": 400, "err_code": 10026, "description": "maximum consumers limit reached"}


def test_info_delete_not_found(env):
    r = env.api.api(f"CONSUMER.INFO.{env.stream}.NOPE")
    assert r == {"type": "io.nats.jetstream.api.v1.consumer_info_response",
                 "error": {"code": 404, "err_code": 10014, "description": "consumer not found"}}
    r = env.api.api("CONSUMER.INFO.NOSUCHSTREAM_CW.x")
    assert r["error"] == {"code": 404, "err_code": 10059, "description": "stream not found"}
    env.durable("DEL")
    r = env.api.api(f"CONSUMER.DELETE.{env.stream}.DEL", b'{"x":1}')
    assert r == {"type": "io.nats.jetstream.api.v1.consumer_delete_response",
                 "error": {"code": 400, "err_code": 10038, "description": "expected an empty request payload"}}
    r = env.api.api(f"CONSUMER.DELETE.{env.stream}.DEL")
    assert r == {"type": "io.nats.jetstream.api.v1.consumer_delete_response", "success": True}
    r = env.api.api(f"CONSUMER.DELETE.{env.stream}.DEL")
    assert r["error"] == {"code": 404, "err_code": 10014, "description": "consumer not found"}
    r = env.api.api("CONSUMER.DELETE.NOSUCHSTREAM_CW.x")
    assert r["error"] == {"code": 404, "err_code": 10059, "description": "stream not found"}


def test_names_and_list(env):
    for n in ("C3", "A1", "B2"):
        env.durable(n)
    r = env.api.api(f"CONSUMER.NAMES.{env.stream}")
    assert r == {"type": "io.nats.jetstream.api.v1.consumer_names_response", "total": 3, "offset": 0,
                 "limit": 1024, "consumers": ["A1", "B2", "C3"]}
    r = env.api.api(f"CONSUMER.NAMES.{env.stream}", {"offset": 1})
    assert (r["total"], r["offset"], r["consumers"]) == (3, 1, ["B2", "C3"])
    r = env.api.api(f"CONSUMER.LIST.{env.stream}")
    assert r["type"] == "io.nats.jetstream.api.v1.consumer_list_response"
    assert (r["total"], r["offset"], r["limit"]) == (3, 0, 256)
    assert [c["name"] for c in r["consumers"]] == ["A1", "B2", "C3"]
    assert list(r["consumers"][0].keys()) == CONSUMER_INFO_KEYS[1:]  # no "type" inside
    r = env.api.api(f"CONSUMER.LIST.{env.stream}", {"offset": 5})
    assert (r["total"], r["offset"], r["consumers"]) == (3, 3, [])  # offset clamped to total
    r = env.api.api("CONSUMER.NAMES.NOSUCHSTREAM_CW")
    assert r == {"type": "io.nats.jetstream.api.v1.consumer_names_response",
                 "error": {"code": 404, "err_code": 10059, "description": "stream not found"},
                 "total": 0, "offset": 0, "limit": 0, "consumers": []}
    r = env.api.api(f"CONSUMER.LIST.{env.stream}", b"{x")
    assert r["error"] == {"code": 400, "err_code": 10025, "description": "invalid JSON"}
    assert r["consumers"] == [] and r["total"] == 0


def test_inactive_threshold_removes_idle_consumers(env):
    """Ephemerals (and durables that set inactive_threshold) are deleted once idle for the
    threshold; a waiting pull request counts as activity."""
    idle = env.create_raw({"inactive_threshold": NS})["name"]
    busy = env.create_raw({"inactive_threshold": NS})["name"]
    env.durable("DUR_IDLE", inactive_threshold=NS)
    env.pull(busy, {"batch": 1, "expires": 3 * NS})
    time.sleep(0.5)
    assert "error" not in env.info(idle), "deleted before the threshold"
    time.sleep(2.0)
    for name in (idle, "DUR_IDLE"):
        assert env.info(name).get("error", {}).get("err_code") == 10014, f"{name} still exists"
    assert env.info(busy)["num_waiting"] == 1


# ======================================================================================
# 2. Pull requests
# ======================================================================================

def test_pull_delivery_form(env):
    env.pub("a", b"m0")
    env.pub("h", b"withhdr", headers={"X-A": "1"})
    env.durable("P")
    reply = env.pull("P", {"batch": 2})
    m1, m2 = env.read(), env.read()
    # delivered on the request's reply subject (our inbox sid), shown with the stream subject
    assert (m1.op, m1.subject, m1.sid, m1.payload) == ("MSG", f"{env.subj}.a", "jsinbox", b"m0")
    a1 = Ack(m1.reply, env.stream, "P")
    assert (a1.delivered, a1.sseq, a1.cseq, a1.pending) == (1, 1, 1, 1)
    assert m1.raw == f"MSG {env.subj}.a jsinbox {m1.reply} 2\r\nm0\r\n".encode()
    assert (m2.op, m2.subject, m2.headers, m2.payload) == ("HMSG", f"{env.subj}.h", b"NATS/1.0\r\nX-A: 1\r\n\r\n", b"withhdr")
    a2 = Ack(m2.reply, env.stream, "P")
    assert (a2.delivered, a2.sseq, a2.cseq, a2.pending) == (1, 2, 2, 0)
    # the timestamp token is the stored message's time
    got = env.api.api(f"STREAM.MSG.GET.{env.stream}", {"seq": 1})["message"]["time"]
    assert go_time(a1.ts) == got, (a1.ts, got)
    assert reply  # the request is complete: nothing else arrives
    assert env.collect(0.3) == []
    i = env.info("P")
    assert i["delivered"]["consumer_seq"] == 2 and i["delivered"]["stream_seq"] == 2
    assert re.fullmatch(r"\d{4}-.*Z", i["delivered"]["last_active"])
    assert list(i["delivered"].keys()) == ["consumer_seq", "stream_seq", "last_active"]
    assert i["ack_floor"] == {"consumer_seq": 0, "stream_seq": 0}
    assert (i["num_ack_pending"], i["num_pending"], i["num_waiting"]) == (2, 0, 0)


def test_pull_body_forms(env):
    for i in range(6):
        env.pub("a", b"%d" % i)
    env.durable("B")
    env.pull("B", b"")             # empty body: batch 1
    assert env.read().payload == b"0"
    env.pull("B", b"3")            # a bare number: the batch size
    assert [env.read().payload for _ in range(3)] == [b"1", b"2", b"3"]
    env.pull("B", {"bogus": 1})    # unknown fields ignored, batch 1
    assert env.read().payload == b"4"
    assert env.collect(0.3) == []


def test_pull_no_wait_empty_is_404(env):
    env.durable("NW")
    reply = env.pull("NW", {"batch": 3, "no_wait": True})
    m = env.read(1.0)
    assert (m.op, m.subject, m.reply, m.payload) == ("HMSG", reply, None, b"")
    assert m.headers == b"NATS/1.0 404 No Messages\r\n\r\n"
    assert env.info("NW")["num_waiting"] == 0


def test_pull_no_wait_partial_ends_with_408(env):
    for i in range(3):
        env.pub("a", b"%d" % i)
    env.durable("NWP")
    reply = env.pull("NWP", {"batch": 5, "no_wait": True})
    got = env.collect(1.0)
    assert [m.payload for _, m in got[:3]] == [b"0", b"1", b"2"]
    assert len(got) == 4, got
    t, last = got[3]
    assert last.subject == reply and last.payload == b""
    assert last.headers == b"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 2\r\nNats-Pending-Bytes: 0\r\n\r\n"
    assert t < 0.5, "no_wait must not wait"


def test_pull_no_wait_with_expires_waits_for_expiry(env):
    env.durable("NWE")
    t0 = time.monotonic()
    env.pull("NWE", {"batch": 2, "no_wait": True, "expires": NS // 2})
    got = env.collect(2.0, t0=t0)
    assert len(got) == 1, got
    t, m = got[0]
    assert status_of(m) == (408, "Request Timeout")
    assert 0.35 < t < 1.5, t


def test_pull_expires_408(env):
    env.durable("EX")
    t0 = time.monotonic()
    reply = env.pull("EX", {"batch": 2, "expires": NS // 2})
    got = env.collect(2.0, t0=t0)
    assert len(got) == 1, got
    t, m = got[0]
    assert m.subject == reply and m.payload == b""
    assert m.headers == b"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 2\r\nNats-Pending-Bytes: 0\r\n\r\n"
    assert 0.35 < t < 1.5, t
    # partially served, then expired: the remaining count and the unused bytes
    env.pub("a", b"x0"); env.pub("a", b"x1")
    env.pull("EX", {"batch": 5, "expires": NS // 2, "max_bytes": 1000})
    got = env.collect(2.0)
    assert [m.payload for _, m in got[:2]] == [b"x0", b"x1"]
    last = got[-1][1]
    st, hdrs = parse_headers(last.headers)
    assert st == 408 and hdrs["Nats-Pending-Messages"] == "3"
    used = sum(len(m.subject) + len(m.reply) + len(m.payload) for _, m in got[:2])
    assert hdrs["Nats-Pending-Bytes"] == str(1000 - used)
    # zero/negative-ish expiries expire at once
    env.pull("EX", {"batch": 1, "expires": 1000})
    got = env.collect(1.0)
    assert status_of(got[0][1]) == (408, "Request Timeout") and got[0][0] < 0.5


def test_pull_max_bytes(env):
    """A message costs len(subject)+len(ack reply)+len(headers)+len(payload) of max_bytes."""
    for i in range(3):
        env.pub("a", b"hello")
    env.durable("MB0")
    probe = env.fetch("MB0", 1, 0.2)[0]
    size = len(probe.subject) + len(probe.reply) + len(probe.payload)
    # same-length consumer names give same-length ack subjects
    env.durable("MB1")
    reply = env.pull("MB1", {"batch": 5, "max_bytes": size - 1})
    m = env.read(1.0)
    assert m.subject == reply
    assert m.headers == (f"NATS/1.0 409 Message Size Exceeds MaxBytes\r\nNats-Pending-Messages: 5\r\n"
                         f"Nats-Pending-Bytes: {size - 1}\r\n\r\n").encode()
    env.durable("MB2")
    env.pull("MB2", {"batch": 5, "max_bytes": size})
    m = env.read(1.0)
    assert m.payload == b"hello" and status_of(m) is None
    assert env.collect(0.3) == []          # bytes used up exactly: the request ends silently
    assert env.info("MB2")["num_waiting"] == 0
    env.durable("MB3")
    env.pull("MB3", {"batch": 5, "max_bytes": size + 8})
    got = env.collect(1.0)
    assert len(got) == 2 and got[0][1].payload == b"hello", got
    assert got[1][1].headers == (b"NATS/1.0 409 Message Size Exceeds MaxBytes\r\nNats-Pending-Messages: 4\r\n"
                                 b"Nats-Pending-Bytes: 8\r\n\r\n")


def test_pull_request_limits_409(env):
    env.pub("a", b"x")
    env.durable("LIM", max_batch=2, max_expires=NS, max_bytes=100)
    cases = [({"batch": 5}, b"NATS/1.0 409 Exceeded MaxRequestBatch of 2\r\n\r\n"),
             ({"batch": 1, "expires": 2 * NS}, b"NATS/1.0 409 Exceeded MaxRequestExpires of 1s\r\n\r\n"),
             ({"batch": 1, "max_bytes": 200}, b"NATS/1.0 409 Exceeded MaxRequestMaxBytes of 100\r\n\r\n")]
    for body, hdr in cases:
        reply = env.pull("LIM", body)
        m = env.read(1.0)
        assert (m.subject, m.headers, m.payload) == (reply, hdr, b""), body
    r = env.info("LIM")["config"]
    assert (r["max_batch"], r["max_expires"], r["max_bytes"]) == (2, NS, 100)
    # without expires a consumer with max_expires still accepts the request
    env.pull("LIM", {"batch": 1})
    assert env.read(1.0).payload == b"x"


def test_pull_max_waiting_and_push_consumer_409(env):
    env.durable("MW", max_waiting=2)
    env.pull("MW", {"batch": 1})
    env.pull("MW", {"batch": 1})
    reply = env.pull("MW", {"batch": 1})
    m = env.read(1.0)
    assert (m.subject, m.headers) == (reply, b"NATS/1.0 409 Exceeded MaxWaiting\r\n\r\n")
    assert env.info("MW")["num_waiting"] == 2
    env.durable("PUSHED", deliver_subject=f"dl.{env.subj}.pushed")
    reply = env.pull("PUSHED", {"batch": 1})
    m = env.read(1.0)
    assert (m.subject, m.headers) == (reply, b"NATS/1.0 409 Consumer is push based\r\n\r\n")


def test_pull_bad_requests_400(env):
    env.durable("BR")
    m_reply = env.pull("BR", b"{x")
    m = env.read(1.0)
    assert m.subject == m_reply and m.headers.startswith(b"NATS/1.0 400 Bad Request")
    for body in ({"batch": 1, "idle_heartbeat": NS // 10},                       # heartbeat without expires
                 {"batch": 1, "expires": NS, "idle_heartbeat": 600_000_000}):    # heartbeat > expires/2
        env.pull("BR", body)
        m = env.read(1.0)
        assert m.headers == b"NATS/1.0 400 Bad Request - heartbeat value too large\r\n\r\n", body


def test_pull_idle_heartbeat(env):
    env.pub("a", b"x")
    env.durable("HB")
    assert env.fetch("HB", 1, 0.2)[0].payload == b"x"
    t0 = time.monotonic()
    reply = env.pull("HB", {"batch": 2, "expires": NS, "idle_heartbeat": 300_000_000})
    got = env.collect(2.0, t0=t0)
    hbs = [(t, m) for t, m in got if status_of(m) == (100, "Idle Heartbeat")]
    assert 2 <= len(hbs) <= 4, got
    for t, m in hbs:
        assert m.subject == reply and m.reply is None and m.payload == b""
        assert m.headers == b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 1\r\nNats-Last-Stream: 1\r\n\r\n"
    assert 0.15 < hbs[0][0] < 0.7, hbs[0][0]
    assert status_of(got[-1][1]) == (408, "Request Timeout") and got[-1][0] > 0.8


def test_pull_waiting_requests_served_round_robin(env):
    env.durable("RR")
    subs = []
    for k in range(3):
        inbox = f"{env.cl.inbox}_rr{k}"
        env.cl.sub(inbox, f"rr{k}")
        env.pull("RR", {"batch": 2}, reply=inbox)
        subs.append(f"rr{k}")
    env.sync()
    assert env.info("RR")["num_waiting"] == 3
    for i in range(7):
        env.pub("a", b"%d" % i)
    got = [env.read() for _ in range(6)]
    assert [m.sid for m in got] == ["rr0", "rr1", "rr2", "rr0", "rr1", "rr2"], [(m.sid, m.payload) for m in got]
    assert [m.payload for m in got] == [b"0", b"1", b"2", b"3", b"4", b"5"]
    assert env.collect(0.3) == []
    i = env.info("RR")
    assert (i["num_waiting"], i["num_pending"], i["num_ack_pending"]) == (0, 1, 6)


def test_pull_batch_zero_or_negative_waits_as_one(env):
    env.durable("Z")
    env.pull("Z", {"batch": 0})
    env.pull("Z", {"batch": -1})
    env.sync()
    assert env.info("Z")["num_waiting"] == 2
    env.pub("a", b"1"); env.pub("a", b"2"); env.pub("a", b"3")
    assert [env.read().payload, env.read().payload] == [b"1", b"2"]
    assert env.collect(0.3) == []


def test_pull_request_without_reply_interest_is_dropped(env):
    env.durable("NI")
    env.cl.pub(f"$JS.API.CONSUMER.MSG.NEXT.{env.stream}.NI", b'{"batch":5,"expires":3000000000}',
               f"nobody.listens.{env.subj}")
    env.sync()
    time.sleep(0.1)
    assert env.info("NI")["num_waiting"] == 0
    env.pub("a", b"x")
    time.sleep(0.2)
    i = env.info("NI")
    assert i["delivered"]["consumer_seq"] == 0 and i["num_pending"] == 1


def test_pull_unknown_consumer_or_stream_no_reply(env):
    env.pull("NOSUCH", {"batch": 1})
    env.cl.pub("$JS.API.CONSUMER.MSG.NEXT.NOSUCHSTREAM_CW.x", b'{"batch":1}', env.next_reply())
    assert env.collect(0.6) == []


def test_pull_waiting_requests_get_409_consumer_deleted(env):
    """Deleting the consumer (or its stream) answers every waiting request with `409 Consumer
    Deleted`; nothing follows (no heartbeats, no 408)."""
    env.durable("GONE")
    replies = [env.pull("GONE", {"batch": 1, "expires": 3 * NS}),
               env.pull("GONE", {"batch": 3, "expires": 3 * NS, "idle_heartbeat": NS}),
               env.pull("GONE", {"batch": 1})]
    env.sync()
    assert env.info("GONE")["num_waiting"] == 3
    assert env.api.api(f"CONSUMER.DELETE.{env.stream}.GONE") == \
        {"type": "io.nats.jetstream.api.v1.consumer_delete_response", "success": True}
    got = [env.read(1.0) for _ in replies]
    assert sorted(m.subject for m in got) == sorted(replies)
    for m in got:
        assert (m.op, m.reply, m.headers, m.payload) == ("HMSG", None, b"NATS/1.0 409 Consumer Deleted\r\n\r\n", b"")
    assert env.collect(1.3) == []
    env.durable("GONE2")
    reply = env.pull("GONE2", {"batch": 1})
    env.sync()
    assert env.api.api(f"STREAM.DELETE.{env.stream}")["success"] is True
    m = env.read(1.0)
    assert (m.subject, m.headers) == (reply, b"NATS/1.0 409 Consumer Deleted\r\n\r\n")


def test_max_ack_pending_holds_deliveries(env):
    for i in range(5):
        env.pub("a", b"%d" % i)
    env.durable("MAP", max_ack_pending=2)
    env.pull("MAP", {"batch": 5, "expires": 400_000_000})
    got = env.collect(1.5)
    assert [m.payload for _, m in got[:2]] == [b"0", b"1"] and len(got) == 3, got
    assert got[2][1].headers == b"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 3\r\nNats-Pending-Bytes: 0\r\n\r\n"
    env.ack(got[0][1])
    env.pull("MAP", {"batch": 5, "expires": 300_000_000})
    got = env.collect(1.5)
    assert [m.payload for _, m in got if status_of(m) is None] == [b"2"]


# ======================================================================================
# 3. Acks
# ======================================================================================

def test_acks_as_requests_get_empty_reply(env):
    for i in range(4):
        env.pub("a", b"%d" % i)
    env.durable("A", ack_wait=10 * NS)
    ms = env.fetch("A", 4, 0.2)
    assert len(ms) == 4
    env.ack(ms[0], b"+ACK")          # no reply subject: nothing comes back
    env.sync()
    assert env.collect(0.2) == []
    i = env.wait_info("A", lambda i: i["num_ack_pending"] < 4)
    assert i["ack_floor"]["consumer_seq"] == 1 and i["num_ack_pending"] == 3
    assert list(i["ack_floor"].keys()) == ["consumer_seq", "stream_seq", "last_active"]
    for m, payload in ((ms[1], b"+ACK"), (ms[2], b""), (ms[2], b"+ACK"), (ms[3], b"+WPI")):
        reply = env.next_reply()
        env.ack(m, payload, reply)
        r = env.read(1.0)
        assert (r.op, r.subject, r.headers, r.payload) == ("MSG", reply, None, b""), payload
    i = env.info("A")
    assert i["ack_floor"] == {"consumer_seq": 3, "stream_seq": 3, "last_active": i["ack_floor"]["last_active"]}
    assert i["num_ack_pending"] == 1


def test_ack_payload_variants(env):
    """Exact matches only: `+OK` and an empty payload ack; `+ACK extra`, `+ack`, garbage are ignored
    (but still answered with an empty message when sent as a request)."""
    results = {}
    for k, payload in enumerate([b"+OK", b"+ACK extra", b"+ack", b" +ACK", b"garbage", b"+NXT extra"]):
        env.pub("a", b"v%d" % k)
        name = f"V{k}"
        env.durable(name, deliver_policy="last")
        m = env.fetch(name, 1, 0.2)[0]
        m_seq = Ack(m.reply, env.stream, name).sseq
        reply = env.next_reply()
        env.ack(m, payload, reply)
        if payload.startswith(b"+NXT"):
            env.pub("a", b"next")   # +NXT <bad body>: acked, and a 1-message pull on the reply
            r = env.read(1.0)
            assert r.payload == b"next" and Ack(r.reply, env.stream, name).sseq == m_seq + 1
        else:
            r = env.read(1.0)
            assert r.subject == reply and r.payload == b""
        i = env.info(name)
        results[payload] = i["num_ack_pending"] if not payload.startswith(b"+NXT") else i["ack_floor"]["consumer_seq"]
    assert results == {b"+OK": 0, b"+ACK extra": 1, b"+ack": 1, b" +ACK": 1, b"garbage": 1, b"+NXT extra": 1}


def test_ack_to_unknown_consumer_is_no_responders(env):
    env.durable("K")
    for subject in (f"$JS.ACK.{env.stream}.NOPE.1.1.1.1.0", f"$JS.ACK.{env.stream}.K.x"):
        reply = env.next_reply()
        env.cl.pub(subject, b"+ACK", reply)
        m = env.read(1.0)
        assert (m.subject, m.headers) == (reply, b"NATS/1.0 503\r\n\r\n"), subject
    # well-formed but for a sequence never delivered: accepted silently
    reply = env.next_reply()
    env.cl.pub(f"$JS.ACK.{env.stream}.K.1.99.99.1.0", b"+ACK", reply)
    assert env.read(1.0).payload == b""


def test_nak_redelivers_at_once_with_new_consumer_seq(env):
    adv = JsClient(env.server)
    adv.sub(f"$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED.{env.stream}.N", "adv")
    adv.expect_open()
    for i in range(3):
        env.pub("a", b"%d" % i)
    env.durable("N", ack_wait=10 * NS)
    m0, m1 = env.fetch("N", 2, 0.2)
    env.ack(m0, b"-NAK")
    env.sync()
    time.sleep(0.1)   # nats-server applies acks asynchronously
    ms = env.fetch("N", 2, 0.2)     # redeliveries go before new messages
    assert [m.payload for m in ms] == [b"0", b"2"]
    a = Ack(ms[0].reply, env.stream, "N")
    assert (a.delivered, a.sseq, a.cseq) == (2, 1, 3)
    assert a.ts == Ack(m0.reply, env.stream, "N").ts
    b = Ack(ms[1].reply, env.stream, "N")
    assert (b.delivered, b.sseq, b.cseq, b.pending) == (1, 3, 4, 0)
    i = env.info("N")
    assert i["delivered"] == {"consumer_seq": 4, "stream_seq": 3, "last_active": i["delivered"]["last_active"]}
    assert (i["num_redelivered"], i["num_ack_pending"]) == (1, 3)
    m = adv.next_msg(1.0)
    d = json.loads(m.payload)
    assert list(d.keys()) == ["type", "id", "timestamp", "stream", "consumer", "consumer_seq", "stream_seq", "deliveries"]
    assert (d["type"], d["stream"], d["consumer"], d["consumer_seq"], d["stream_seq"], d["deliveries"]) == \
        ("io.nats.jetstream.advisory.v1.nak", env.stream, "N", 1, 1, 1)
    adv.close()


def test_nak_with_delay(env):
    env.pub("a", b"only")
    env.durable("ND", ack_wait=10 * NS)
    m = env.fetch("ND", 1, 0.2)[0]
    t0 = time.monotonic()
    env.ack(m, b'-NAK {"delay":1000000000}')
    env.pull("ND", {"batch": 1, "expires": int(2.5 * NS)})
    got = env.collect(3.0, t0=t0, data=1)
    assert len(got) == 1 and got[0][1].payload == b"only", got
    assert 0.8 < got[0][0] < 2.0, got[0][0]
    assert Ack(got[0][1].reply, env.stream, "ND").delivered == 2
    # a Go duration after "-NAK " works too; a JSON string delay is ignored (immediate)
    t0 = time.monotonic()
    env.ack(got[0][1], b"-NAK 500ms")
    env.pull("ND", {"batch": 1, "expires": int(2 * NS)})
    got = env.collect(2.5, t0=t0, data=1)
    assert len(got) == 1 and 0.35 < got[0][0] < 1.5, got
    t0 = time.monotonic()
    env.ack(got[0][1], b'-NAK {"delay":"1s"}')
    env.pull("ND", {"batch": 1, "expires": int(2 * NS)})
    got = env.collect(2.5, t0=t0, data=1)
    assert len(got) == 1 and got[0][0] < 0.4, got


def test_ack_wait_redelivery_and_progress(env):
    env.pub("a", b"only")
    env.durable("W", ack_wait=NS)
    t0 = time.monotonic()
    env.pull("W", {"batch": 3, "expires": int(3.2 * NS)})
    m1 = env.read(1.0)
    assert time.monotonic() - t0 < 0.3
    # no redelivery before ack_wait/2; the redelivery after ~ack_wait
    m2 = env.read(2.0)
    t = time.monotonic() - t0
    assert 0.5 < t < 1.6, t
    a = Ack(m2.reply, env.stream, "W")
    assert (a.delivered, a.sseq, a.cseq) == (2, 1, 2) and status_of(m1) is None
    # +WPI resets the timer: progress at +0.5 s postpones the next redelivery to ~+1.5 s
    t1 = time.monotonic()
    time.sleep(0.5)
    env.ack(m2, b"+WPI")
    m3 = env.read(2.5)
    t = time.monotonic() - t1
    assert 1.2 < t < 2.2, t
    assert status_of(m3) is None and Ack(m3.reply, env.stream, "W").delivered == 3
    i = env.info("W")
    assert i["num_redelivered"] == 1 and i["num_ack_pending"] == 1


def test_term_and_term_with_reason(env):
    adv = JsClient(env.server)
    adv.sub(f"$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.{env.stream}.*", "adv")
    adv.expect_open()
    env.pub("a", b"t0"); env.pub("a", b"t1")
    env.durable("T", ack_wait=NS)
    m0, m1 = env.fetch("T", 2, 0.2)
    reply = env.next_reply()
    t0 = time.monotonic()
    env.ack(m0, b"+TERM", reply)
    assert env.read(1.0).payload == b""
    env.ack(m1, b"+TERM because")      # 2.9.10: not a TERM (exact match only) -> redelivered
    env.pull("T", {"batch": 2, "expires": 2 * NS})
    got = env.collect(2.5, t0=t0, data=1)
    got += env.collect(0.3)             # the TERMed t0 does not come back
    data = [(t, m) for t, m in got if status_of(m) is None]
    assert [m.payload for _, m in data] == [b"t1"], got
    assert data[0][0] > 0.5
    m = adv.next_msg(1.0)
    assert m.subject == f"$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.{env.stream}.T"
    d = json.loads(m.payload)
    assert list(d.keys()) == ["type", "id", "timestamp", "stream", "consumer", "consumer_seq", "stream_seq", "deliveries"]
    assert (d["type"], d["stream"], d["consumer"], d["consumer_seq"], d["stream_seq"], d["deliveries"]) == \
        ("io.nats.jetstream.advisory.v1.terminated", env.stream, "T", 1, 1, 1)
    assert re.fullmatch(r"[A-Za-z0-9]{22}", d["id"])
    assert adv.ping() == b""           # exactly one termination advisory
    adv.close()


def test_ack_next(env):
    for i in range(6):
        env.pub("a", b"%d" % i)
    env.durable("X")
    m = env.fetch("X", 1, 0.2)[0]
    nxt = f"{env.cl.inbox}_nxt"
    env.cl.sub(nxt, "nxt")
    env.ack(m, b"+NXT", nxt)                       # acks, then delivers 1 to the reply subject
    d = env.read(1.0)
    assert (d.sid, d.payload) == ("nxt", b"1")
    env.ack(d, b'+NXT {"batch":2}', nxt)
    assert [(x.sid, x.payload) for x in (env.read(1.0), env.read(1.0))] == [("nxt", b"2"), ("nxt", b"3")]
    env.ack(d, b"+NXT 2", nxt)  # d was already acked: still a pull request for 2
    assert [env.read(1.0).payload, env.read(1.0).payload] == [b"4", b"5"]
    i = env.info("X")
    assert i["ack_floor"]["consumer_seq"] == 2 and i["num_ack_pending"] == 4


def test_ack_policy_all(env):
    for i in range(4):
        env.pub("a", b"%d" % i)
    env.durable("AL", ack_policy="all")
    ms = env.fetch("AL", 4, 0.2)
    env.ack(ms[2])
    i = env.wait_info("AL", lambda i: i["num_ack_pending"] < 4)
    assert i["ack_floor"]["consumer_seq"] == 3 and i["num_ack_pending"] == 1
    # explicit: acking out of order does not move the floor
    env.durable("EXP")
    ms = env.fetch("EXP", 4, 0.2)
    env.ack(ms[2])
    i = env.wait_info("EXP", lambda i: i["num_ack_pending"] < 4)
    assert i["ack_floor"]["consumer_seq"] == 0 and i["num_ack_pending"] == 3
    assert "last_active" in i["ack_floor"]     # present once anything was acked, even at floor 0


def test_ack_policy_none(env):
    for i in range(3):
        env.pub("a", b"%d" % i)
    env.durable("NO", ack_policy="none")
    ms = env.fetch("NO", 2, 0.2)
    a = Ack(ms[0].reply, env.stream, "NO")       # same $JS.ACK form even with ack none
    assert (a.delivered, a.sseq, a.cseq, a.pending) == (1, 1, 1, 2)
    i = env.info("NO")
    assert i["ack_floor"] == {"consumer_seq": 2, "stream_seq": 2}
    assert (i["num_ack_pending"], i["num_pending"]) == (0, 1)
    assert "ack_wait" not in i["config"] and "max_ack_pending" not in i["config"]


def test_max_deliver_advisory(env):
    adv = JsClient(env.server)
    adv.sub(f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{env.stream}.*", "adv")
    adv.expect_open()
    env.pub("a", b"only")
    env.durable("M", ack_wait=NS // 2, max_deliver=3)
    t0 = time.monotonic()
    env.pull("M", {"batch": 10, "expires": int(2.2 * NS)})
    got = env.collect(2.8, t0=t0)
    data = [(t, m) for t, m in got if status_of(m) is None]
    assert [Ack(m.reply, env.stream, "M").delivered for _, m in data] == [1, 2, 3], got
    assert 0.25 < data[1][0] < 1.0 and 0.6 < data[2][0] < 1.8, [t for t, _ in data]
    st, hdrs = parse_headers(got[-1][1].headers)
    assert st == 408 and hdrs["Nats-Pending-Messages"] == "7"   # redeliveries count against the batch
    m = adv.next_msg(1.0)
    assert m.subject == f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{env.stream}.M"
    d = json.loads(m.payload)
    assert list(d.keys()) == ["type", "id", "timestamp", "stream", "consumer", "stream_seq", "deliveries"]
    assert (d["type"], d["stream"], d["consumer"], d["stream_seq"], d["deliveries"]) == \
        ("io.nats.jetstream.advisory.v1.max_deliver", env.stream, "M", 1, 3)
    i = env.info("M")
    assert i["num_ack_pending"] == 0 and i["ack_floor"]["consumer_seq"] == 0
    assert env.state()["messages"] == 1
    adv.close()


def test_backoff_schedule(env):
    env.pub("a", b"only")
    r = env.durable("BO", ack_wait=3 * NS, max_deliver=4, backoff=[300_000_000, 600_000_000, 900_000_000])
    assert r["config"]["ack_wait"] == 300_000_000       # ack_wait becomes backoff[0]
    assert r["config"]["backoff"] == [300_000_000, 600_000_000, 900_000_000]
    t0 = time.monotonic()
    env.pull("BO", {"batch": 10, "expires": int(2.4 * NS)})
    got = env.collect(3.0, t0=t0)
    ts = [t for t, m in got if status_of(m) is None]
    # deliveries at ~0, ~0.3, ~0.9, ~1.8 s
    assert len(ts) == 4, got
    assert 0.15 < ts[1] < 0.6 and 0.6 < ts[2] < 1.3 and 1.4 < ts[3] < 2.3, ts
    assert ts[2] - ts[1] > 0.4 and ts[3] - ts[2] > 0.65, ts


# ======================================================================================
# 4. Push consumers
# ======================================================================================

def test_push_delivers_only_with_interest(env):
    for i in range(3):
        env.pub("a", b"%d" % i)
    dl = f"dl.{env.subj}.p"
    r = env.durable("P1", deliver_subject=dl)
    assert "max_waiting" not in r["config"] and r["config"]["deliver_subject"] == dl
    assert "push_bound" not in r
    time.sleep(0.3)
    assert env.info("P1")["delivered"]["consumer_seq"] == 0
    sub = JsClient(env.server)
    sub.sub(dl, "1")
    ms = [sub.next_msg(1.0) for _ in range(3)]
    assert [(m.subject, m.sid, m.payload) for m in ms] == [(f"{env.subj}.a", "1", b"%d" % i) for i in range(3)]
    a = Ack(ms[0].reply, env.stream, "P1")
    assert (a.delivered, a.sseq, a.cseq, a.pending) == (1, 1, 1, 2)
    i = env.info("P1")
    assert i["push_bound"] is True and list(i.keys())[-1] == "push_bound"
    sub.send(b"UNSUB 1\r\n")
    sub.expect_open()
    env.pub("a", b"later")
    time.sleep(0.3)
    i = env.info("P1")
    assert "push_bound" not in i and i["num_pending"] == 1
    sub.sub(dl, "2")
    m = sub.next_msg(1.0)
    assert (m.sid, m.payload) == ("2", b"later")
    sub.close()


def test_push_deliver_group(env):
    dl = f"dl.{env.subj}.q"
    s1, s2, plain = JsClient(env.server), JsClient(env.server), JsClient(env.server)
    plain.sub(dl, "plain")       # not a queue member: never counts as interest
    plain.expect_open()
    env.durable("Q", deliver_subject=dl, deliver_group="grp")
    env.pub("a", b"before")
    time.sleep(0.3)
    assert env.info("Q")["delivered"]["consumer_seq"] == 0
    s2.sub(dl, "q2", "grp")
    early2 = ping_keep(s2)
    s1.sub(dl, "q1", "grp")
    early1 = ping_keep(s1)
    for i in range(20):
        env.pub("a", b"%d" % i)
    got1 = early1 + [m for _, m in env.collect(0.6, client=s1)]
    got2 = early2 + [m for _, m in env.collect(0.3, client=s2)]
    assert len(got1) + len(got2) == 21
    assert got1 and got2, "queue members must share the deliveries"
    assert {m.payload for m in got1 + got2} == {b"before"} | {b"%d" % i for i in range(20)}
    # delivery is an ordinary publish to the deliver subject: once the group has a member, a
    # plain subscriber on that subject receives a copy of everything
    got3 = [m for _, m in env.collect(0.3, client=plain)]
    assert len(got3) == 21
    for c in (s1, s2, plain):
        c.close()


def test_push_idle_heartbeat(env):
    dl = f"dl.{env.subj}.hb"
    sub = JsClient(env.server)
    sub.sub(dl, "hb")
    sub.expect_open()
    t0 = time.monotonic()
    env.durable("HB", deliver_subject=dl, idle_heartbeat=NS // 2)
    got = env.collect(1.3, client=sub, t0=t0)
    assert 2 <= len(got) <= 3, got
    for t, m in got:
        assert (m.op, m.subject, m.reply, m.payload) == ("HMSG", dl, None, b"")
        assert m.headers == b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 0\r\nNats-Last-Stream: 0\r\n\r\n"
    assert 0.3 < got[0][0] < 0.8 and 0.35 < got[1][0] - got[0][0] < 0.7, [t for t, _ in got]
    env.pub("a", b"x")
    t1 = time.monotonic()
    got = env.collect(1.2, client=sub, t0=t1)
    assert got[0][1].payload == b"x"
    hb = [(t, m) for t, m in got if status_of(m)]
    assert hb and hb[0][1].headers == b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 1\r\nNats-Last-Stream: 1\r\n\r\n"
    assert 0.3 < hb[0][0] < 0.8
    sub.close()


def test_push_flow_control(env):
    """Flow control: a `100 FlowControl Request` with a `$JS.FC.<stream>.<consumer>.<id>` reply
    after ~1 MiB; delivery stalls at ~2 MiB until it is answered (heartbeats then carry
    Nats-Consumer-Stalled)."""
    payload = b"z" * 1000
    n = 2600
    env.api.send(b"".join(f"PUB {env.subj}.a {len(payload)}\r\n".encode() + payload + b"\r\n" for _ in range(n)))
    env.api.expect_open()
    settle(env, lambda: env.state()["messages"] == n)
    dl = f"dl.{env.subj}.fc"
    sub = JsClient(env.server)
    sub.sub(dl, "fc")
    sub.expect_open()
    env.durable("FC", deliver_subject=dl, ack_policy="none", idle_heartbeat=NS, flow_control=True)
    data_bytes = 0
    count = 0
    fc = None
    stalled_hb = None
    end = time.monotonic() + 2.5
    while time.monotonic() < end and stalled_hb is None:
        try:
            m = sub.next_msg(max(0.01, end - time.monotonic()))
        except AssertionError:
            break
        st = status_of(m)
        if st is None:
            count += 1
            data_bytes += len(m.subject) + len(m.reply) + len(m.payload)
        elif st == (100, "FlowControl Request"):
            assert fc is None, "a second FC request before the first was answered"
            fc = m
            fc_at = data_bytes
        elif st == (100, "Idle Heartbeat"):
            stalled_hb = m
    assert fc is not None, f"no flow control request after {count} messages"
    assert fc.headers == b"NATS/1.0 100 FlowControl Request\r\n\r\n" and fc.payload == b""
    assert re.fullmatch(rf"\$JS\.FC\.{env.stream}\.FC\.[A-Za-z0-9]+", fc.reply), fc.reply
    assert 900_000 < fc_at < 1_150_000, fc_at
    assert stalled_hb is not None, f"no stall: {count} messages delivered"
    assert 1_900_000 < data_bytes < 2_200_000 and count < n, (count, data_bytes)
    assert stalled_hb.headers == (f"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: {count}\r\n"
                                  f"Nats-Last-Stream: {count}\r\nNats-Consumer-Stalled: {fc.reply}\r\n\r\n").encode()
    sub.pub(fc.reply, b"")          # answer: delivery resumes
    rest = 0
    end = time.monotonic() + 2.5
    while time.monotonic() < end and count + rest < n:
        m = sub.next_msg(max(0.01, end - time.monotonic()))
        st = status_of(m)
        if st is None:
            rest += 1
        elif st == (100, "FlowControl Request"):
            sub.pub(m.reply, b"")
    assert count + rest == n
    sub.close()


def test_push_replay_original(env):
    for i in range(3):
        env.pub("a", b"%d" % i)
        time.sleep(0.3)
    dl = f"dl.{env.subj}.ro"
    sub = JsClient(env.server)
    sub.sub(dl, "ro")
    sub.expect_open()
    t0 = time.monotonic()
    env.durable("RO", deliver_subject=dl, replay_policy="original", ack_policy="none")
    got = env.collect(1.3, client=sub, t0=t0)
    ts = [t for t, _ in got]
    assert [m.payload for _, m in got] == [b"0", b"1", b"2"]
    assert ts[0] < 0.25 and 0.2 < ts[1] - ts[0] < 0.5 and 0.2 < ts[2] - ts[1] < 0.5, ts
    # pull consumers replay by the original timing too
    env.durable("RP", replay_policy="original")
    t0 = time.monotonic()
    env.pull("RP", {"batch": 3, "expires": int(1.5 * NS)})
    got = env.collect(2.0, t0=t0, data=3)
    ts = [t for t, m in got if status_of(m) is None]
    assert len(ts) == 3 and ts[2] - ts[0] > 0.4, ts
    sub.close()


# ======================================================================================
# 5. Deliver policies, filters, headers_only
# ======================================================================================

def test_deliver_policies(env):
    seqs = [env.pub(t, b"v%d" % (i + 1), headers={"H": "x"} if i == 4 else None)
            for i, t in enumerate(["a", "b", "a", "c", "b", "a"])]
    assert seqs == [1, 2, 3, 4, 5, 6]
    t3 = env.api.api(f"STREAM.MSG.GET.{env.stream}", {"seq": 3})["message"]["time"]
    cases = [
        ("ALL", {}, 6, 0, [1, 2, 3, 4, 5, 6]),
        ("LAST", {"deliver_policy": "last"}, 1, 5, [6]),
        ("NEW", {"deliver_policy": "new"}, 0, 6, []),
        ("SEQ", {"deliver_policy": "by_start_sequence", "opt_start_seq": 4}, 3, 3, [4, 5, 6]),
        ("SEQ99", {"deliver_policy": "by_start_sequence", "opt_start_seq": 99}, 0, 6, []),
        ("TIME", {"deliver_policy": "by_start_time", "opt_start_time": t3}, 4, 2, [3, 4, 5, 6]),
        ("LPS", {"deliver_policy": "last_per_subject", "filter_subject": f"{env.subj}.*"}, 3, 3, [4, 5, 6]),
        ("LPSA", {"deliver_policy": "last_per_subject", "filter_subject": f"{env.subj}.a"}, 1, 5, [6]),
        ("FILT", {"filter_subject": f"{env.subj}.b"}, 2, 0, [2, 5]),
        ("LASTF", {"deliver_policy": "last", "filter_subject": f"{env.subj}.b"}, 1, 4, [5]),
    ]
    for name, cfg, pending, start, want in cases:
        r = env.durable(name, ack_policy="none", **cfg)
        assert (r["num_pending"], r["delivered"]["stream_seq"], r["delivered"]["consumer_seq"]) == (pending, start, 0), \
            (name, r["num_pending"], r["delivered"])
        got = env.fetch(name, 10, 0.2)
        acks = [Ack(m.reply, env.stream, name) for m in got]
        assert [a.sseq for a in acks] == want, name
        assert [a.cseq for a in acks] == list(range(1, len(want) + 1)), name
        assert [a.pending for a in acks] == list(range(len(want) - 1, -1, -1)), name
    assert env.info("TIME")["config"]["opt_start_time"] == t3
    # new: only what is published after creation
    env.pub("a", b"v7")
    got = env.fetch("NEW", 5, 0.2)
    assert [m.payload for m in got] == [b"v7"]


def test_last_per_subject_skips_superseded(env):
    for i, t in enumerate(("a", "b", "a", "c", "a")):
        env.pub(t, b"%s%d" % (t.encode(), i + 1))
    r = env.durable("LPS", ack_policy="none", deliver_policy="last_per_subject", filter_subject=f"{env.subj}.*")
    assert r["num_pending"] == 3
    got = env.fetch("LPS", 10, 0.2)
    assert [Ack(m.reply, env.stream, "LPS").sseq for m in got] == [2, 4, 5]
    assert [m.payload for m in got] == [b"b2", b"c4", b"a5"]
    assert [Ack(m.reply, env.stream, "LPS").pending for m in got] == [2, 1, 0]


def test_headers_only(env):
    env.pub("a", b"12345")
    env.pub("b", b"xy", headers={"H": "x"})
    env.durable("HO", headers_only=True, ack_policy="none")
    m1, m2 = env.fetch("HO", 2, 0.2)
    assert (m1.op, m1.headers, m1.payload) == ("HMSG", b"NATS/1.0\r\nNats-Msg-Size: 5\r\n\r\n", b"")
    assert (m2.op, m2.headers, m2.payload) == ("HMSG", b"NATS/1.0\r\nH: x\r\nNats-Msg-Size: 2\r\n\r\n", b"")
    assert env.info("HO")["config"]["headers_only"] is True


def test_filter_pending_counts(env):
    for t in ("a", "b", "a", "b", "b"):
        env.pub(t, t.encode())
    r = env.durable("FB", filter_subject=f"{env.subj}.b")
    assert r["num_pending"] == 3
    m = env.fetch("FB", 1, 0.2)[0]
    a = Ack(m.reply, env.stream, "FB")
    assert (a.sseq, a.cseq, a.pending) == (2, 1, 2)
    env.pub("a", b"a"); env.pub("b", b"b")
    i = env.info("FB")
    assert i["num_pending"] == 3 and i["delivered"]["stream_seq"] == 2


# ======================================================================================
# 6. Retention: workqueue and interest
# ======================================================================================

def test_workqueue_rules(env_factory):
    e = env_factory(retention="workqueue")
    for i in range(4):
        e.pub("ab"[i % 2], b"w%d" % i)
    e.durable("W1")
    r = e.create_raw({"durable_name": "W2", "ack_policy": "explicit"}, "W2")
    assert r["error"] == {"code": 400, "err_code": 10099,
                          "description": "multiple non-filtered consumers not allowed on workqueue stream"}
    r = e.create_raw({"durable_name": "W3", "ack_policy": "explicit", "filter_subject": f"{e.subj}.a"}, "W3")
    assert r["error"] == {"code": 400, "err_code": 10100, "description": "filtered consumer not unique on workqueue stream"}
    e.api.api(f"CONSUMER.DELETE.{e.stream}.W1")
    e.durable("WA", filter_subject=f"{e.subj}.a")
    e.durable("WB", filter_subject=f"{e.subj}.b")
    for cfg, code, desc in (
            ({"filter_subject": f"{e.subj}.a"}, 10100, "filtered consumer not unique on workqueue stream"),
            ({"filter_subject": f"{e.subj}.>"}, 10100, "filtered consumer not unique on workqueue stream"),
            ({"filter_subject": f"{e.subj}.c", "ack_policy": "none"}, 10084, "consumer in pull mode requires ack policy"),
            ({"filter_subject": f"{e.subj}.d", "ack_policy": "all"}, 10098, "workqueue stream requires explicit ack"),
            ({"filter_subject": f"{e.subj}.e", "deliver_policy": "last"}, 10101,
             "consumer must be deliver all on workqueue stream")):
        cfg = {"durable_name": "WX", "ack_policy": "explicit", **cfg}
        r = e.create_raw(cfg, "WX")
        assert r.get("error") == {"code": 400, "err_code": code, "description": desc}, (cfg, r)
    ms = e.fetch("WA", 5, 0.2)
    assert [m.payload for m in ms] == [b"w0", b"w2"]
    e.ack(ms[0])
    e.ack(ms[1], b"+TERM")
    e.sync()
    st = settle(e, lambda: (lambda s: s if s["messages"] == 2 else None)(e.state()))
    assert st["first_seq"] == 2
    mb = e.fetch("WB", 1, 0.2)[0]
    e.ack(mb, b"-NAK")
    e.sync()
    time.sleep(0.1)
    assert e.state()["messages"] == 2    # a NAK keeps it


def test_interest_retention(env_factory):
    e = env_factory(retention="interest")
    r = e.api.publish(f"{e.subj}.a", b"nobody")
    assert r["seq"] == 1
    st = e.state()
    assert (st["messages"], st["first_seq"], st["last_seq"]) == (0, 2, 1)   # acked but not kept
    e.durable("C1")
    e.durable("C2")
    e.pub("a", b"y0"); e.pub("a", b"y1")
    assert e.state()["messages"] == 2
    for m in e.fetch("C1", 5, 0.2):
        e.ack(m)
    e.sync()
    time.sleep(0.1)
    assert e.state()["messages"] == 2     # C2 has not acked yet
    m = e.fetch("C2", 1, 0.2)[0]
    e.ack(m)
    settle(e, lambda: e.state()["messages"] == 1)
    assert e.state()["first_seq"] == 3
    e.api.api(f"CONSUMER.DELETE.{e.stream}.C2")
    settle(e, lambda: e.state()["messages"] == 0)


def test_consumer_action_advisories(env):
    adv = JsClient(env.server)
    adv.sub(f"$JS.EVENT.ADVISORY.CONSUMER.*.{env.stream}.*", "adv")
    adv.expect_open()
    env.durable("ADV")
    env.api.api(f"CONSUMER.DELETE.{env.stream}.ADV")
    got = [adv.next_msg(1.0), adv.next_msg(1.0)]
    assert [m.subject for m in got] == [f"$JS.EVENT.ADVISORY.CONSUMER.CREATED.{env.stream}.ADV",
                                        f"$JS.EVENT.ADVISORY.CONSUMER.DELETED.{env.stream}.ADV"]
    for m, action in zip(got, ("create", "delete")):
        d = json.loads(m.payload)
        assert list(d.keys()) == ["type", "id", "timestamp", "stream", "consumer", "action"]
        assert (d["type"], d["stream"], d["consumer"], d["action"]) == \
            ("io.nats.jetstream.advisory.v1.consumer_action", env.stream, "ADV", action)
    adv.close()
