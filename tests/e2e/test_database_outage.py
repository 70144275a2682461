"""PostgreSQL goes down and comes back: /healthz follows within the probe
interval, API calls answer 503 meanwhile, and sailo recovers without a
restart."""
import os
import subprocess
import time

from conftest import ROOT

PGCLUSTER = os.path.join(ROOT, "conf", "pgcluster.sh")


def wait_for_status(sailo, want, limit_s):
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        r = sailo.get("/healthz")
        if r.status_code == want:
            return time.monotonic() - start, r
        time.sleep(0.05)
    raise AssertionError(f"/healthz did not become {want} in {limit_s}s")


def test_healthz_turns_503_when_postgres_stops_and_200_when_it_returns(start_sailo):
    sailo = start_sailo(server_health_interval_ms=1000)
    admin = sailo.token("admin")
    assert sailo.get("/v1/tokens", token=admin).status_code == 200
    subprocess.run([PGCLUSTER, "stop"], check=True, capture_output=True)
    try:
        took, r = wait_for_status(sailo, 503, 2.0)   # interval + 1 s
        assert r.json() == {"status": "unavailable", "database": "down"}
        assert "Retry-After" in r.headers
        r = sailo.get("/v1/tokens", token=admin)
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "DATABASE_UNAVAILABLE"
        assert sailo.proc.poll() is None
    finally:
        subprocess.run([PGCLUSTER, "start"], check=True, capture_output=True)
    took, r = wait_for_status(sailo, 200, 5.0)
    assert r.json() == {"status": "ok", "database": "ok"}
    # the request workers reconnect by themselves
    deadline = time.monotonic() + 5
    while sailo.get("/v1/tokens", token=admin).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert "database is down" in sailo.log()
