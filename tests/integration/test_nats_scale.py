# SPDX-License-Identifier: Apache-2.0
"""Many subscriptions on one connection, many connections on one server: raw sockets and
nats.c. The fd limit was lifted to the hard limit by conftest (inherited by the server)."""
import re
import resource

import pytest

from conftest import RawClient, assert_server_serves, run_client_json, unique

N_SUBS = 10_000
N_CONNS = 500


def _need_fds(n):
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < n:
        pytest.fail(f"RLIMIT_NOFILE soft limit {soft} < {n} needed; raise the hard limit")


def test_10000_subscriptions_raw(server):
    p = unique("msub")
    sub = RawClient(server)
    sub.send(b"".join(f"SUB {p}.{i} {i}\r\n".encode() for i in range(N_SUBS)))
    sub.expect_open()
    pub = RawClient(server)
    pub.send(b"".join(f"PUB {p}.{i} {len(str(i))}\r\n{i}\r\n".encode() for i in range(N_SUBS)))
    pub.expect_open()
    data = sub.ping()
    got = re.findall(rb"MSG (\S+) (\d+) (\d+)\r\n(\d+)\r\n", data)
    assert len(got) == N_SUBS, f"{len(got)} messages for {N_SUBS} subscriptions"
    for i, (subj, sid, size, payload) in enumerate(got):
        # one publisher -> arrival in publish order
        assert (subj, sid, payload) == (f"{p}.{i}".encode(), str(i).encode(), str(i).encode())
    assert sum(len(m) for m in re.findall(rb"MSG [^\r]*\r\n\d+\r\n", data)) == len(data)
    # unsubscribe them all: nothing is delivered any more
    sub.send(b"".join(f"UNSUB {i}\r\n".encode() for i in range(N_SUBS)))
    sub.expect_open()
    pub.send(b"".join(f"PUB {p}.{i} 1\r\nx\r\n".encode() for i in range(0, N_SUBS, 97)))
    pub.expect_open()
    assert sub.ping() == b""
    sub.close(), pub.close()


def test_10000_subscriptions_nats_c(server):
    r = run_client_json("nc_many_subs", server.url, unique("mscc"), N_SUBS, timeout=60)
    assert {k: v for k, v in r.items() if k != "ms"} == {
        "subs": N_SUBS, "received": N_SUBS, "wrong": 0, "missing": 0, "extra": 0,
        "wildcard": N_SUBS}


def test_500_connections_raw(fresh_server):
    _need_fds(2 * N_CONNS + 100)
    p = unique("mconn")
    clients = []
    try:
        for i in range(N_CONNS):
            c = RawClient(fresh_server)
            c.send(f"SUB {p}.{i} 1\r\nSUB {p}.all 2\r\n".encode())
            clients.append(c)
        ids = {c.info["client_id"] for c in clients}
        assert len(ids) == N_CONNS, "client_id must differ per connection"
        for c in clients:
            c.expect_open()
        pub = RawClient(fresh_server)
        pub.send(b"".join(f"PUB {p}.{i} {len(str(i))}\r\n{i}\r\n".encode() for i in range(N_CONNS))
                 + f"PUB {p}.all 3\r\nall\r\n".encode())
        pub.expect_open()
        for i, c in enumerate(clients):
            assert c.ping() == (f"MSG {p}.{i} 1 {len(str(i))}\r\n{i}\r\n"
                                f"MSG {p}.all 2 3\r\nall\r\n").encode(), f"client {i}"
        pub.close()
    finally:
        for c in clients:
            c.close()
    assert_server_serves(fresh_server)


def test_500_connections_nats_c(fresh_server):
    _need_fds(2 * N_CONNS + 100)
    r = run_client_json("nc_many_conns", fresh_server.url, unique("mcc"), N_CONNS, timeout=60)
    assert {k: v for k, v in r.items() if k != "ms"} == {
        "conns": N_CONNS, "connected": N_CONNS, "received": N_CONNS, "broadcast": N_CONNS,
        "wrong": 0, "distinct_client_ids": N_CONNS}
    assert_server_serves(fresh_server)


def test_connection_churn(server):
    """Open and close 300 connections (half without a goodbye mid-command); the server keeps
    serving and its fd count does not leak (checked via a last burst of 100 connections)."""
    for i in range(300):
        c = RawClient(server)
        if i % 2:
            c.send(b"SUB churn 1\r\nPUB churn 10\r\nabc")
        c.close()
    clients = [RawClient(server) for _ in range(100)]
    for c in clients:
        c.expect_open()
        c.close()
    assert_server_serves(server)
