"""Tests of the resumable downloader against a real HTTP server on loopback."""

from __future__ import annotations

import hashlib
import http.server
import logging
import os
import re
import socket
import threading

import pytest

from robusttag.errors import ConfigError, DownloadError
from robusttag.io import temporary_path
from robusttag.sources import download as dl

PAYLOAD = os.urandom(3 * 1024 * 1024 + 17)
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
CHUNK = 64 * 1024


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD at /data.bin; behaviour set by attributes of the server.

    Every request is recorded (``ranges``, ``sent``) before its reply goes out,
    so that the record is complete whenever the client has its answer, however
    busy the machine (the handler runs in its own thread).
    """

    def do_GET(self) -> None:
        srv = self.server
        if self.path != "/data.bin":
            self.send_error(404)
            return
        rng = self.headers.get("Range")
        srv.ranges.append(rng)
        start = 0
        if rng and srv.honour_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng)[1])
            if start >= len(PAYLOAD):
                srv.sent.append(0)  # bookkeeping before the reply: the client may return as soon as it has it
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(PAYLOAD)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            claimed = 0 if srv.wrong_content_range else start
            self.send_header("Content-Range", f"bytes {claimed}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD) - start))
        self.end_headers()
        body = PAYLOAD[start:]
        if srv.cut_after is not None and (srv.cut_always or len(srv.sent) == 0):
            body = body[: srv.cut_after]
            self.close_connection = True
        srv.sent.append(len(body))  # before the body: the test reads it once the client has returned
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.honour_range, srv.wrong_content_range = True, False
    srv.cut_after, srv.cut_always = None, False
    srv.ranges, srv.sent = [], []
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/data.bin"
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


@pytest.fixture(autouse=True)
def _no_retry_delay(monkeypatch):
    monkeypatch.setattr(dl, "_RETRY_DELAY_S", 0.0)


def test_full_download(server, tmp_path, caplog):
    out = tmp_path / "sub" / "data.bin"
    with caplog.at_level(logging.INFO, logger=dl.__name__):
        digest = dl.download(server.url, out, chunk_size=CHUNK)
    assert digest == PAYLOAD_SHA == dl.sha256_of(out)
    assert out.read_bytes() == PAYLOAD
    assert not temporary_path(out).exists()
    assert server.ranges == [None]
    progress = [r.getMessage() for r in caplog.records if "MB/s" in r.getMessage()]
    assert 1 <= len(progress) <= 21
    assert "100 %" in progress[-1]


def test_interrupted_transfer_resumes_in_same_call(server, tmp_path):
    k = 1_000_000
    server.cut_after = k
    out = tmp_path / "data.bin"
    assert dl.download(server.url, out, chunk_size=CHUNK) == PAYLOAD_SHA
    assert out.read_bytes() == PAYLOAD
    assert server.ranges == [None, f"bytes={k}-"]
    assert server.sent == [k, len(PAYLOAD) - k]


def test_partial_file_from_previous_run_is_resumed(server, tmp_path):
    n = 1_234_567
    out = tmp_path / "data.bin"
    temporary_path(out).write_bytes(PAYLOAD[:n])
    assert dl.download(server.url, out, PAYLOAD_SHA, chunk_size=CHUNK) == PAYLOAD_SHA
    assert out.read_bytes() == PAYLOAD
    assert server.ranges == [f"bytes={n}-"]
    assert server.sent == [len(PAYLOAD) - n]
    assert not temporary_path(out).exists()


def test_complete_partial_file_is_only_verified(server, tmp_path):
    out = tmp_path / "data.bin"
    temporary_path(out).write_bytes(PAYLOAD)
    assert dl.download(server.url, out, PAYLOAD_SHA) == PAYLOAD_SHA
    assert out.read_bytes() == PAYLOAD
    assert server.ranges == [f"bytes={len(PAYLOAD)}-"] and server.sent == [0]


def test_server_ignoring_range_restarts_from_zero(server, tmp_path, caplog):
    server.honour_range = False
    out = tmp_path / "data.bin"
    temporary_path(out).write_bytes(PAYLOAD[:500_000])
    with caplog.at_level(logging.INFO, logger=dl.__name__):
        assert dl.download(server.url, out, chunk_size=CHUNK) == PAYLOAD_SHA
    assert out.read_bytes() == PAYLOAD
    assert server.ranges == ["bytes=500000-"] and server.sent == [len(PAYLOAD)]
    assert "does not support resuming" in caplog.text


def test_mismatched_content_range_restarts_from_zero(server, tmp_path):
    server.wrong_content_range = True
    out = tmp_path / "data.bin"
    temporary_path(out).write_bytes(PAYLOAD[:300_000])
    assert dl.download(server.url, out, PAYLOAD_SHA, chunk_size=CHUNK) == PAYLOAD_SHA
    assert out.read_bytes() == PAYLOAD
    assert server.ranges == ["bytes=300000-", None]


def test_wrong_sha256_raises_and_removes_everything(server, tmp_path):
    out = tmp_path / "data.bin"
    wrong = "ab" * 32
    with pytest.raises(DownloadError) as info:
        dl.download(server.url, out, wrong.upper())
    assert wrong in str(info.value) and PAYLOAD_SHA in str(info.value)
    assert server.url in str(info.value)
    assert not out.exists() and not temporary_path(out).exists()


def test_correct_sha256_case_insensitive(server, tmp_path):
    out = tmp_path / "data.bin"
    assert dl.download(server.url, out, PAYLOAD_SHA.upper()) == PAYLOAD_SHA
    assert out.read_bytes() == PAYLOAD


def test_malformed_sha256_rejected_before_download(server, tmp_path):
    with pytest.raises(ConfigError, match="64 hex digits"):
        dl.download(server.url, tmp_path / "data.bin", "not-a-hash")
    assert server.ranges == []


def test_http_404(server, tmp_path):
    url = server.url.replace("data.bin", "missing.bin")
    out = tmp_path / "data.bin"
    with pytest.raises(DownloadError, match="404") as info:
        dl.download(url, out)
    assert url in str(info.value)
    assert not out.exists() and not temporary_path(out).exists()


def test_unreachable_host(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/data.bin"
    with pytest.raises(DownloadError) as info:
        dl.download(url, tmp_path / "data.bin", retries=1, timeout=5)
    assert url in str(info.value) and "Connection" in str(info.value)


def test_file_url(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(PAYLOAD)
    out = tmp_path / "out" / "data.bin"
    temporary_path(out).parent.mkdir()
    temporary_path(out).write_bytes(b"stale partial bytes")
    assert dl.download(src.as_uri(), out, PAYLOAD_SHA, chunk_size=CHUNK) == PAYLOAD_SHA
    assert out.read_bytes() == PAYLOAD
    assert not temporary_path(out).exists()


def test_missing_file_url(tmp_path):
    url = (tmp_path / "nope.bin").as_uri()
    with pytest.raises(DownloadError, match=re.escape(url)):
        dl.download(url, tmp_path / "data.bin")


def test_truncation_without_retries_left_raises_and_keeps_partial(server, tmp_path):
    k = 400_000
    server.cut_after, server.cut_always = k, True
    out = tmp_path / "data.bin"
    with pytest.raises(DownloadError) as info:
        dl.download(server.url, out, PAYLOAD_SHA, chunk_size=CHUNK, retries=2)
    message = str(info.value)
    assert server.url in message and f"{3 * k} of {len(PAYLOAD)} bytes" in message
    assert not out.exists()
    assert temporary_path(out).read_bytes() == PAYLOAD[: 3 * k]
    assert server.ranges == [None, f"bytes={k}-", f"bytes={2 * k}-"]
    # A later run resumes the kept partial file and completes it.
    server.cut_after = None
    assert dl.download(server.url, out, PAYLOAD_SHA) == PAYLOAD_SHA
    assert out.read_bytes() == PAYLOAD
    assert server.ranges[-1] == f"bytes={3 * k}-"
