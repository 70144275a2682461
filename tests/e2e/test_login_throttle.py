"""Guessing bearer tokens gets slow, then refused: past
server.auth_fail_limit bad tokens from one address each 401 is held back,
doubling up to server.auth_fail_max_delay_ms, and from
server.auth_fail_block on that address gets 429 with Retry-After.  Other
addresses are not touched."""
import http.client
import json
import subprocess
import threading
import time

import psycopg2
import pytest

from conftest import ROOT, SAILO, Sailo, conninfo, free_port, sailo_env

# Small numbers so that the test runs in seconds.
RULE = dict(server_auth_fail_limit=3, server_auth_fail_delay_ms=600,
            server_auth_fail_max_delay_ms=1300, server_auth_fail_block=6,
            server_auth_fail_window_s=30)
BAD = "sailo_guessed-" + "x" * 20


def call(sailo, token, source="127.0.0.1", path="/v1/tokens"):
    """GET path from the address source: (status, headers, body, seconds)."""
    conn = http.client.HTTPConnection("127.0.0.1", sailo.port, timeout=30,
                                      source_address=(source, 0))
    t0 = time.monotonic()
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        r = conn.getresponse()
        body = r.read()
        return r.status, dict(r.getheaders()), body, time.monotonic() - t0
    finally:
        conn.close()


def test_bad_tokens_are_slowed_then_refused_with_429(start_sailo):
    sailo = start_sailo(**RULE)
    admin = sailo.token("admin")
    for _ in range(3):                                  # within the limit
        status, _, _, took = call(sailo, BAD)
        assert status == 401 and took < 0.5
    expected = [0.6, 1.2, 1.3]                          # doubling, capped
    for delay in expected:
        status, headers, body, took = call(sailo, BAD)
        assert status == 401
        assert json.loads(body)["error"]["code"] == "UNAUTHENTICATED"
        assert took >= delay, (took, delay)
        assert took < delay + 1.0
    status, headers, body, took = call(sailo, BAD)      # the 7th
    assert status == 429
    assert json.loads(body)["error"]["code"] == "TOO_MANY_REQUESTS"
    assert 1 <= int(headers["Retry-After"]) <= 30
    assert took < 0.5                                  # not held: refused
    # a good token from that address waits too (it would tell a guess)
    status, headers, _, _ = call(sailo, admin)
    assert status == 429 and "Retry-After" in headers
    # another address is not throttled: a good token works, a bad one is
    # a plain 401
    status, _, _, took = call(sailo, admin, source="127.0.0.2")
    assert status == 200
    status, _, _, took = call(sailo, BAD, source="127.0.0.2")
    assert status == 401 and took < 0.5
    # requests that need no token are answered as ever
    assert sailo.get("/healthz").status_code == 200
    log = sailo.log()
    assert log.count("slowing its 401s down") == 1
    assert "auth: 127.0.0.1: 4 failed logins" in log
    assert "auth: 127.0.0.1: 6 failed logins; 429" in log
    assert BAD not in log and admin not in log


def test_an_address_is_forgiven_after_a_quiet_window(start_sailo):
    # The window is counted in whole seconds: 3 s leaves room for the
    # 1.3 s holds between failures.
    sailo = start_sailo(**dict(RULE, server_auth_fail_window_s=3))
    for _ in range(6):
        call(sailo, BAD)
    assert call(sailo, BAD)[0] == 429
    time.sleep(3.2)
    status, _, _, took = call(sailo, BAD)
    assert status == 401 and took < 0.5


def test_missing_tokens_are_not_counted_as_guesses(start_sailo):
    sailo = start_sailo(**RULE)
    for _ in range(10):
        t0 = time.monotonic()
        assert sailo.get("/v1/tokens").status_code == 401
        assert time.monotonic() - t0 < 0.5
    admin = sailo.token("admin")
    assert sailo.get("/v1/tokens", token=admin).status_code == 200


def test_throttled_denials_are_still_recorded_with_flood_aggregation(fresh_database, tmp_path):
    sailo = Sailo(fresh_database, tmp_path, **RULE)
    statuses = [call(sailo, BAD)[0] for _ in range(10)]
    assert statuses == [401] * 6 + [429] * 4
    assert sailo.stop() == 0                 # flushes the counts it held
    with psycopg2.connect(conninfo("sailo_owner", fresh_database)) as c:
        cur = c.cursor()
        cur.execute("SELECT details, outcome FROM audit_events "
                    "WHERE action = 'auth.denied' ORDER BY seq")
        rows = cur.fetchall()
    assert len(rows) == 2                    # the first at once, the rest counted
    assert sum(r[0]["count"] for r in rows) == 10
    assert all(r[1] == "denied" and r[0]["peer"] == "127.0.0.1" for r in rows)
    assert BAD not in json.dumps(rows)


@pytest.mark.parametrize("key,value", [("server_auth_fail_limit", "0"),
                                       ("server_auth_fail_block", "x")])
def test_bad_throttle_settings_stop_start_up(database, key, value):
    env = dict(sailo_env(database), SAILO_SERVER_LISTEN=f"127.0.0.1:{free_port()}")
    env["SAILO_" + key.upper()] = value
    out = subprocess.run([SAILO, "serve"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 2
    assert key.split("_", 1)[1] in out.stderr


def test_shutdown_frees_replies_still_held_back(start_sailo):
    """A 401 waiting on its timer when SIGTERM comes: the daemon still stops
    cleanly within its grace period (under make e2e-asan: nothing leaks)."""
    sailo = start_sailo(**dict(RULE, server_auth_fail_limit=1,
                               server_auth_fail_delay_ms=5000,
                               server_auth_fail_max_delay_ms=5000,
                               server_shutdown_grace_ms=500))
    assert call(sailo, BAD)[0] == 401
    got = []
    t = threading.Thread(target=lambda: got.append(_try_call(sailo)))
    t.start()
    time.sleep(0.5)                    # the second 401 is now held back
    t0 = time.monotonic()
    assert sailo.stop() == 0
    assert time.monotonic() - t0 < 4
    t.join(timeout=10)
    assert got and got[0] != 401       # cut off, never answered late


def _try_call(sailo):
    try:
        return call(sailo, BAD)[0]
    except (ConnectionError, http.client.HTTPException) as e:
        return type(e).__name__
