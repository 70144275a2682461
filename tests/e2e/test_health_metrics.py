"""An administrator watches health and metrics, and reads one log line per
request."""
import re

import requests


def test_healthz_reports_database_ok(sailo):
    r = sailo.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok"}
    assert r.headers["Content-Type"] == "application/json"


def test_metrics_has_uptime_requests_histogram_and_queue_depth(sailo, admin):
    sailo.get("/healthz")
    sailo.get("/v1/tokens", token=admin)
    sailo.get("/v1/tokens")                       # 401
    text = sailo.get("/metrics").text
    assert re.search(r"^sailo_uptime_seconds \d+$", text, re.M)
    assert re.search(r'^sailo_http_requests_total\{route="healthz",status="200"\} [1-9]\d*$', text, re.M)
    assert re.search(r'^sailo_http_requests_total\{route="tokens.list",status="200"\} 1$', text, re.M)
    assert re.search(r'^sailo_http_requests_total\{route="tokens.list",status="401"\} 1$', text, re.M)
    assert re.search(r'^sailo_http_request_duration_seconds_bucket\{route="tokens.list",le="\+Inf"\} 2$', text, re.M)
    assert re.search(r'^sailo_http_request_duration_seconds_count\{route="healthz"\} \d+$', text, re.M)
    assert re.search(r'^sailo_worker_queue_depth\{pool="requests"\} \d+$', text, re.M)
    assert re.search(r'^sailo_worker_queue_depth\{pool="jobs"\} \d+$', text, re.M)
    assert re.search(r"^sailo_database_up 1$", text, re.M)


def test_one_log_line_per_request_without_query_or_token(sailo, admin):
    sailo.get("/v1/tokens?limit=5&secret=x", token=admin)
    sailo.stop()
    lines = [l for l in sailo.log().splitlines() if " GET /v1/tokens " in l]
    assert len(lines) == 1
    # method, path without query, status, duration, bytes, principal
    assert re.search(r" GET /v1/tokens 200 [\d.]+ms \d+ admin-\w+$", lines[0])
    assert "secret" not in sailo.log()
    assert admin not in sailo.log()


def test_unknown_path_is_404_and_wrong_method_405_as_json(sailo):
    r = sailo.get("/v1/nothing-here")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "NOT_FOUND"
    r = requests.put(sailo.url + "/healthz", timeout=5)
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_bad_config_names_key_and_line_and_exits_2(tmp_path):
    import subprocess
    from conftest import SAILO, ROOT
    conf = tmp_path / "bad.conf"
    conf.write_text("[server]\nlisten = 127.0.0.1:1\n\n[workers]\nrequets = 2\n")
    out = subprocess.run([SAILO, "--config", str(conf), "serve"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert f"{conf}:5" in out.stderr and "workers.requets" in out.stderr
    conf.write_text("[server]\nheader_timeout_ms = soon\n")
    out = subprocess.run([SAILO, "--config", str(conf), "serve"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert f"{conf}:2" in out.stderr and "server.header_timeout_ms" in out.stderr
    out = subprocess.run([SAILO, "--config", str(tmp_path / "missing.conf"),
                          "serve"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2 and "missing.conf" in out.stderr
    out = subprocess.run([SAILO, "--config", str(conf), "serve"], cwd=ROOT,
                         capture_output=True, text=True,
                         env={"SAILO_LIMITS_QUEUE": "-3"})
    assert out.returncode == 2


def test_sighup_reopens_the_log_file(sailo):
    import os
    import signal
    import time
    sailo.get("/healthz?before")
    rotated = str(sailo.log_path) + ".1"
    os.rename(sailo.log_path, rotated)
    sailo.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 5
    while not sailo.log_path.exists():
        assert time.time() < deadline, "log file was not reopened"
        time.sleep(0.05)
    sailo.get("/metrics")
    sailo.stop()
    assert " GET /metrics 200 " in sailo.log()
    with open(rotated) as f:
        old = f.read()
    assert " GET /healthz 200 " in old and " GET /metrics " not in old
