"""Resumable, verified download of the Jet Flavor Dataset (or any URL).

The file is written under the in-progress name ``temporary_path(output)`` and
renamed to ``output`` only once it is complete and, when a checksum is given,
verified. An interrupted transfer leaves the in-progress file behind, and the
next attempt (in the same call or a later run) continues it with an HTTP
``Range`` request where the server supports that.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robusttag.errors import ConfigError, DownloadError
from robusttag.io import temporary_path

DEFAULT_URL = "http://mlphysics.ics.uci.edu/data/hb_jet_flavor_2016/dataset.json.gz"

logger = logging.getLogger(__name__)

_RETRY_DELAY_S = 2.0  # multiplied by the retry number; tests set it to 0
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_HASH_BLOCK = 1 << 20


class _Interrupted(Exception):
    """The body ended, or had to be discarded, before the file was complete."""


# Errors after which reconnecting (and resuming) may succeed.
_TRANSIENT = (_Interrupted, ConnectionError, TimeoutError, http.client.HTTPException)


def sha256_of(path: str | os.PathLike) -> str:
    """Return the SHA-256 hex digest (lower case) of the file at ``path``.

    Raises
    ------
    OSError
        When the file cannot be read.
    """
    return _hash_file(Path(path)).hexdigest()


def download(
    url: str,
    output: str | os.PathLike,
    sha256: str | None = None,
    *,
    chunk_size: int = 1 << 20,
    timeout: float = 60.0,
    log: logging.Logger | None = None,
    retries: int = 3,
) -> str:
    """Download ``url`` to ``output`` and return the file's SHA-256 hex digest.

    Parameters
    ----------
    url : ``http(s)://`` or ``file://`` URL.
    output : final path; its directory is created if missing. An existing
        file there is replaced only by a complete, verified download.
    sha256 : expected SHA-256 hex digest (case-insensitive), or None to skip
        the check.
    chunk_size : bytes read from the connection at a time.
    timeout : socket timeout in seconds for connecting and for each read.
    log : logger for progress messages (default: this module's logger).
    retries : how many times in this call to reconnect after the connection
        dropped, timed out or ended early (resuming with ``Range`` where
        the server supports it).

    Raises
    ------
    ConfigError
        When ``sha256`` is not a 64-digit hex string.
    DownloadError
        On an HTTP error status, an unreachable host or a missing file (the
        message names the URL and the reason); a transfer still incomplete
        after ``retries`` reconnections (the message names the URL and the byte
        counts; the in-progress file is kept for a later run to resume); or a
        checksum mismatch (the message names the URL and both digests; the
        in-progress file is deleted).
    OSError
        When the output cannot be written.
    """
    log = log or logger
    expected = None
    if sha256 is not None:
        expected = sha256.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{64}", expected):
            raise ConfigError(f"sha256 must be 64 hex digits, got {sha256!r}")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    transfer = _Transfer(url, temporary_path(output), chunk_size, timeout, log)
    log.info("Downloading %s to %s", url, output)

    for attempt in range(retries + 1):
        try:
            transfer.run()
        except _TRANSIENT as exc:
            reason = f"{type(exc).__name__}: {exc}"
        else:
            if transfer.total is None or transfer.size() == transfer.total:
                break
            reason = "connection closed before the end of the body"
        done = transfer.size()
        counts = f"{done} of {transfer.total if transfer.total is not None else 'unknown'} bytes"
        if attempt == retries:
            kept = f"; partial file kept at {transfer.tmp} for resuming" if done else ""
            raise DownloadError(
                f"{url}: download failed after {retries} retries with {counts} received ({reason}){kept}"
            )
        log.warning("%s: transfer interrupted at %s (%s); retry %d of %d", url, counts, reason, attempt + 1, retries)
        time.sleep(_RETRY_DELAY_S * (attempt + 1))

    actual = transfer.hexdigest()
    if expected is not None and actual != expected:
        transfer.tmp.unlink(missing_ok=True)
        raise DownloadError(f"{url}: SHA-256 mismatch: expected {expected}, got {actual}; download deleted")
    os.replace(transfer.tmp, output)
    log.info("Downloaded %s to %s (%d bytes, sha256 %s)", url, output, output.stat().st_size, actual)
    return actual


@dataclass
class _Transfer:
    """State of one download across reconnections within a call."""

    url: str
    tmp: Path
    chunk_size: int
    timeout: float
    log: logging.Logger
    total: int | None = None  # full file size, when the server told us
    hasher: Any = field(default_factory=hashlib.sha256)
    hashed: int = 0  # bytes of ``tmp`` covered by ``hasher``

    def size(self) -> int:
        return self.tmp.stat().st_size if self.tmp.exists() else 0

    def hexdigest(self) -> str:
        if self.hashed != self.size():
            self.hasher, self.hashed = _hash_file(self.tmp), self.size()
        return self.hasher.hexdigest()

    def run(self) -> None:
        """One request: append to (or restart) ``tmp`` until the body ends.

        Raises
        ------
        _Interrupted
            On an HTTP 5xx status, a ``Content-Range`` that does not continue
            ``tmp``, or a 416 the partial file cannot satisfy; ``download``
            catches it and reconnects.
        ConnectionError, TimeoutError
            When the host cannot be reached in time; ``download`` reconnects.
        DownloadError
            On any other HTTP error status or URL error (unknown host, missing file).
        """
        offset = self.size()
        resumable = offset > 0 and self.url.lower().startswith(("http:", "https:"))
        request = urllib.request.Request(self.url)
        if resumable:
            request.add_header("Range", f"bytes={offset}-")
            self.log.info("%s: resuming at byte %d", self.url, offset)
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            with exc:
                if exc.code == 416 and resumable:
                    return self._unsatisfiable(offset, exc.headers.get("Content-Range", ""))
                if exc.code >= 500:
                    raise _Interrupted(f"HTTP {exc.code} {exc.reason}") from exc
            raise DownloadError(f"{self.url}: HTTP {exc.code} {exc.reason}") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (ConnectionError, TimeoutError)):
                raise exc.reason from exc
            raise DownloadError(f"{self.url}: {exc.reason}") from exc

        with response:
            length = response.headers.get("Content-Length")
            if response.status == 206:
                match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
                if not match or int(match[1]) != offset:
                    self.tmp.unlink(missing_ok=True)
                    raise _Interrupted(
                        f"asked for bytes {offset}-, server sent Content-Range "
                        f"{response.headers.get('Content-Range')!r}; starting over"
                    )
                self.total = None if match[3] == "*" else int(match[3])
            else:  # 200, or None for file:// — the whole file
                if resumable:
                    self.log.info(
                        "%s: server does not support resuming (Range ignored); starting over from zero", self.url
                    )
                offset = 0
                self.total = int(length) if length is not None else None
            if offset == 0:
                self.hasher, self.hashed = hashlib.sha256(), 0
            elif offset != self.hashed:  # resuming a file left by an earlier run
                self.hasher, self.hashed = _hash_file(self.tmp), offset
            progress = _Progress(self.log, self.url, self.total, offset)
            with open(self.tmp, "ab" if offset else "wb") as f:
                while chunk := response.read(self.chunk_size):
                    f.write(chunk)
                    self.hasher.update(chunk)
                    self.hashed += len(chunk)
                    progress.update(self.hashed)

    def _unsatisfiable(self, offset: int, content_range: str) -> None:
        """Handle 416: the partial file is already complete, or is unusable.

        Raises
        ------
        _Interrupted
            When the partial file is unusable (it is deleted); ``download``
            reconnects and starts over.
        """
        match = re.fullmatch(r"bytes \*/(\d+)", content_range)
        if match and int(match[1]) == offset:
            self.total = offset
            return
        self.tmp.unlink(missing_ok=True)
        raise _Interrupted(f"server cannot resume at byte {offset}; starting over")


class _Progress:
    """Log bytes done, total, percentage and speed every 5 % or 10 s."""

    def __init__(self, log: logging.Logger, url: str, total: int | None, start: int) -> None:
        self.log, self.url, self.total, self.start = log, url, total, start
        self.t0 = self.last_time = time.monotonic()
        self.last_step = self._step(start)

    def _step(self, done: int) -> int:
        return done * 20 // self.total if self.total else 0

    def update(self, done: int) -> None:
        now = time.monotonic()
        step = self._step(done)
        if step <= self.last_step and now - self.last_time < 10.0:
            return
        self.last_step, self.last_time = step, now
        rate = (done - self.start) / 1e6 / max(now - self.t0, 1e-9)
        if self.total:
            self.log.info(
                "%s: %.1f of %.1f MB (%.0f %%), %.1f MB/s",
                self.url,
                done / 1e6,
                self.total / 1e6,
                100 * done / self.total,
                rate,
            )
        else:
            self.log.info("%s: %.1f MB, %.1f MB/s", self.url, done / 1e6, rate)


def _hash_file(path: Path) -> Any:
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_HASH_BLOCK):
            hasher.update(block)
    return hasher
