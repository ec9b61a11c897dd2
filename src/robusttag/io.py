"""Artifact writing (every file appears under its final name only when complete)
and read-ahead of streamed input.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import queue
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def temporary_path(path: str | os.PathLike) -> Path:
    """The in-progress name used for ``path`` (same directory, so rename is atomic)."""
    path = Path(path)
    return path.with_name(f".{path.name}.part")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write to; rename it to ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left
    untouched, so a failed job never leaves a half-written artifact behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def prefetch(iterator: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Run ``iterator`` in a background thread, ``depth`` items ahead.

    Decompression releases the GIL, so inflating the next block overlaps with
    the consumer's work on a second core. Exceptions of the
    producer are re-raised in the consumer.
    """
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in iterator:
                if stop.is_set():
                    return
                items.put((item, None))
        except BaseException as error:  # handed to the consumer
            items.put((None, error))
            return
        items.put((done, None))

    thread = threading.Thread(target=produce, daemon=True, name="robusttag-prefetch")
    thread.start()
    try:
        while True:
            item, error = items.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                items.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)


@contextlib.contextmanager
def logging_to(path: str | os.PathLike | None, level: int = logging.INFO) -> Iterator[logging.Logger]:
    """Send this process's log records (with time stamps) to ``path`` (stderr if None)
    for the duration of the block; an exception leaving the block is logged there
    too, with its message first, then re-raised.
    """
    handler = logging.FileHandler(path) if path else logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield root
    except BaseException as error:
        root.error("failed: %s", error, exc_info=True)
        raise
    finally:
        root.removeHandler(handler)
        handler.close()


def end_job() -> None:
    """End a pipeline job's process now that its outputs are written and closed.

    Skips the interpreter's teardown, which with torch loaded takes about a
    second (its operator registrations are undone one by one): a second per
    job over the ~100 jobs of the default run. Call only after every output's
    ``atomic_output`` block and the job's ``logging_to`` block have closed.
    """
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    logging.shutdown()
    os._exit(0)


def reuse_freed_memory() -> None:
    """Let glibc keep the large buffers in its heap between blocks.

    By default glibc maps large buffers afresh and unmaps them when freed; the
    page faults of that cost about a tenth of the conversion time and more of
    a training step, whose every elementwise pass writes a fresh buffer.
    Elsewhere than glibc this does nothing. Forked workers inherit the setting.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, (1 << 31) - 1)
    libc.mallopt(m_top_pad, 256 << 20)
