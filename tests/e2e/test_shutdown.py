"""SIGTERM while clients are still sending: every request in flight gets its
answer, then sailo exits 0."""
import json
import signal
import socket
import threading
import time

from test_http_layer import read_response


def test_sigterm_lets_20_slow_requests_finish(sailo, admin):
    results = [None] * 20
    started = threading.Barrier(21)

    def slow_client(i):
        body = json.dumps({"name": f"slow-{i}", "role": "auditor"}).encode()
        s = socket.create_connection(("127.0.0.1", sailo.port), timeout=20)
        s.sendall(b"POST /v1/tokens HTTP/1.1\r\nHost: x\r\n"
                  b"Authorization: Bearer " + admin.encode() + b"\r\n"
                  b"Content-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        s.sendall(body[:5])
        started.wait()
        for k in range(5, len(body), 8):        # the rest over ~2 seconds
            time.sleep(0.3)
            s.sendall(body[k:k + 8])
        status, _, reply, _ = read_response(s)
        results[i] = (status, reply)

    threads = [threading.Thread(target=slow_client, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    started.wait()
    time.sleep(0.3)
    sailo.proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(timeout=30)
    assert sailo.proc.wait(timeout=20) == 0
    assert all(r is not None for r in results), results
    assert [r[0] for r in results] == [201] * 20
    names = sorted(json.loads(r[1])["name"] for r in results)
    assert names == sorted(f"slow-{i}" for i in range(20))


def test_sigterm_refuses_new_connections(sailo):
    sailo.proc.send_signal(signal.SIGTERM)
    assert sailo.proc.wait(timeout=20) == 0
    s = socket.socket()
    try:
        assert s.connect_ex(("127.0.0.1", sailo.port)) != 0
    finally:
        s.close()
