"""The HTTP layer against slow, oversized and odd clients: raw sockets, so
that nothing between the test and the server smooths the bytes."""
import json
import os
import resource
import socket
import time

import requests

from conftest import peak_rss_kib


def connect(addr, timeout=5):
    s = socket.create_connection(addr, timeout=timeout)
    s.settimeout(timeout)
    return s


def read_response(s):
    """Reads one response head and its Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1]) if lines[0] else 0
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", 0))
    while len(rest) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:n], rest[n:]


def addr_of(sailo):
    return ("127.0.0.1", sailo.port)


def test_401_arrives_before_the_body_with_expect_100_continue(sailo):
    s = connect(addr_of(sailo))
    s.sendall(b"POST /v1/tokens HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\n"
              b"Content-Length: 104857600\r\nExpect: 100-continue\r\n\r\n")
    status, headers, body, _ = read_response(s)   # no body byte was sent
    assert status == 401
    assert b"UNAUTHENTICATED" in body
    assert headers.get("connection") == "close"


def test_100_continue_comes_after_auth_then_the_body_is_taken(sailo, admin):
    body = b'{"name": "expect-client", "role": "auditor"}'
    s = connect(addr_of(sailo))
    s.sendall(b"POST /v1/tokens HTTP/1.1\r\nHost: x\r\n"
              b"Authorization: Bearer " + admin.encode() + b"\r\n"
              b"Content-Type: application/json\r\n"
              b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(body))
    interim = s.recv(1024)
    assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
    s.sendall(body)
    status, _, reply, _ = read_response(s)
    assert status == 201 and b"expect-client" in reply


def test_413_before_the_body_when_declared_length_is_too_big(sink):
    s = connect(sink)
    s.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n"
              b"Expect: 100-continue\r\n\r\n")
    status, headers, _, _ = read_response(s)
    assert status == 413 and headers.get("connection") == "close"


def test_chunked_body_over_the_limit_gets_413_mid_stream(sink):
    s = connect(sink)
    s.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    piece = b"x" * 65536
    status = None
    try:
        for _ in range(40):                     # 2.5 MiB > the 1 MiB limit
            s.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    status, _, body, _ = read_response(s)
    assert status == 413
    assert b"BODY_TOO_LARGE" in body


def test_chunked_and_plain_bodies_are_streamed_whole(sink):
    s = connect(sink)
    s.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    status, _, body, _ = read_response(s)
    assert status == 200 and body == b'{"bytes":11}'
    s.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
    status, _, body, _ = read_response(s)
    assert status == 200 and body == b'{"bytes":3}'


def test_pipelined_requests_are_answered_in_order(sink):
    s = connect(sink)
    s.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
              b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd"
              b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n")
    got = []
    rest = b""
    for _ in range(3):
        status, _, body, rest = read_response_buffered(s, rest)
        got.append((status, body))
    assert got == [(200, b"ok\n"), (200, b'{"bytes":4}'), (200, b"ok\n")]


def read_response_buffered(s, pending):
    class Buffered:
        def __init__(self, sock, data):
            self.sock, self.data = sock, data

        def recv(self, n):
            if self.data:
                d, self.data = self.data, b""
                return d
            return self.sock.recv(n)
    return read_response(Buffered(s, pending))


def test_streamed_reply_is_chunked_and_complete(sink):
    r = requests.get("http://%s:%d/stream?bytes=3000000" % sink, timeout=10)
    assert r.status_code == 200
    assert r.headers["Transfer-Encoding"] == "chunked"
    assert len(r.content) == 3000000


def test_headers_one_byte_a_second_are_cut_off_after_the_header_timeout(sink):
    s = connect(sink, timeout=10)
    start = time.monotonic()
    request = b"GET / HTTP/1.1\r\nHost: slow\r\nX-Slow: " + b"a" * 100
    closed_after = None
    for byte in request:
        try:
            s.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            closed_after = time.monotonic() - start
            break
        time.sleep(1)
        s.setblocking(False)
        try:
            data = s.recv(4096)
            if data == b"" or data.startswith(b"HTTP/1.1 408"):
                closed_after = time.monotonic() - start
                break
        except BlockingIOError:
            pass
        finally:
            s.setblocking(True)
    assert closed_after is not None, "slow client was never cut off"
    assert 1.5 <= closed_after <= 5        # the sink's header timeout is 2 s


def test_oversized_headers_get_431(sink):
    s = connect(sink)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    status, _, _, _ = read_response(s)
    assert status == 431


def test_malformed_request_gets_400(sink):
    s = connect(sink)
    s.sendall(b"GARBAGE\x01 / HTTP/1.1\r\n\r\n")
    status, _, _, _ = read_response(s)
    assert status == 400


def test_1000_idle_keep_alive_connections_do_not_stop_others(sailo):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    idle = []
    for _ in range(1000):
        idle.append(socket.create_connection(addr_of(sailo), timeout=5))
    # a few of them have even sent half a request
    for s in idle[:10]:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHo")
    try:
        start = time.monotonic()
        for _ in range(20):
            r = requests.get(sailo.url + "/healthz", timeout=5)
            assert r.status_code == 200
        assert time.monotonic() - start < 5
    finally:
        for s in idle:
            s.close()


def test_slow_consumer_applies_backpressure_memory_stays_flat(sink_unlimited):
    (host, port), pid = sink_unlimited
    before = peak_rss_kib(pid)
    s = connect((host, port), timeout=30)
    total = 32 << 20
    s.sendall(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % total)
    piece = b"z" * (1 << 20)
    for _ in range(total // len(piece)):
        s.sendall(piece)
    status, _, body, _ = read_response(s)
    assert status == 200
    got = json.loads(body)
    assert got["bytes"] == total
    # every piece the parser hands over pauses the consumer; a piece is at
    # most what one read put in one buffer chain (reads of 256 KiB while a
    # body streams, in chains libevent rounds up to 512 KiB), so 32 MiB
    # must have paused it at least 32 times even if pieces were 1 MiB
    assert got["pauses"] >= 32, got
    assert got["while_paused"] == 0      # no byte while the consumer paused
    # 32 MiB went through a consumer that kept pausing: the sink buffered
    # at most its read high-water mark, not the body
    assert peak_rss_kib(pid) - before < 8 * 1024


def test_slow_consumer_gets_no_chunk_while_paused(sink_unlimited):
    (host, port), _ = sink_unlimited
    s = connect((host, port), timeout=30)
    s.sendall(b"POST /slow HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    # many small chunks per packet: one parser run meets several of them
    packet = b"".join(b"10\r\n" + b"c" * 16 + b"\r\n" for _ in range(512))
    for _ in range(64):
        s.sendall(packet)
    s.sendall(b"0\r\n\r\n")
    status, _, body, _ = read_response(s)
    got = json.loads(body)
    assert status == 200 and got["bytes"] == 64 * 512 * 16
    assert got["while_paused"] == 0
    assert got["pauses"] >= 64 * 512     # at least one pause per chunk


def test_file_reply_streams_the_whole_file(sink_unlimited, tmp_path):
    (host, port), pid = sink_unlimited
    want = os.urandom(3 * 1024 * 1024 + 17)     # many 256 KiB pieces
    path = tmp_path / "content.bin"
    path.write_bytes(want)
    r = requests.get(f"http://{host}:{port}/file?path={path}", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(len(want))
    assert r.content == want


def test_reply_reaches_a_client_that_half_closed(sink):
    s = connect(sink)
    s.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok")
    s.shutdown(socket.SHUT_WR)
    status, headers, body, rest = read_response(s)
    assert status == 200 and body == b'{"bytes":2}'
    assert rest == b"" and s.recv(100) == b""   # then the server closes


def test_a_slow_handler_is_not_cut_off_by_the_body_timeout(sink_quick_timeout):
    s = connect(sink_quick_timeout)
    s.sendall(b"GET /delay?ms=1500 HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, body, _ = read_response(s)     # 3x the body timeout later
    assert status == 200 and body == b"late\n"


def test_half_closed_post_to_an_authenticated_route_gets_its_reply(sailo, admin):
    body = b'{"name": "half-closer", "role": "auditor"}'
    s = connect(addr_of(sailo))
    s.sendall(b"POST /v1/tokens HTTP/1.1\r\nHost: x\r\n"
              b"Authorization: Bearer " + admin.encode() + b"\r\n"
              b"Content-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body)
    s.shutdown(socket.SHUT_WR)                # while auth runs on a worker
    status, _, reply, _ = read_response(s)
    assert status == 201 and b"half-closer" in reply


def test_http10_gets_an_unframed_stream_and_no_100_continue(sink):
    s = connect(sink)
    s.sendall(b"GET /stream?bytes=100000 HTTP/1.0\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in head and b"Connection: close" in head
    assert body == b"x" * 100000
    s = connect(sink)
    s.sendall(b"POST /up HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
    s.settimeout(0.5)
    try:
        first = s.recv(100)
    except socket.timeout:
        first = b""
    assert not first.startswith(b"HTTP/1.1 100")
    s.settimeout(5)
    s.sendall(b"abc")
    status, _, body, _ = read_response_buffered(s, first)
    assert status == 200 and body == b'{"bytes":3}'


def test_content_length_beyond_int64_is_400(sink):
    s = connect(sink)
    s.sendall(b"POST /up HTTP/1.1\r\nContent-Length: 18446744073709551000\r\n\r\n")
    status, _, _, _ = read_response(s)
    assert status == 400
