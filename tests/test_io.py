"""Artifact writing and its helpers (robusttag.io): a file appears under its final name only when complete,
read-ahead keeps the order and hands the producer's error to the consumer, a job's log, its fast exit, and
glibc's large buffers kept in the heap."""

from __future__ import annotations

import logging
import platform
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from robusttag.io import atomic_output, logging_to, prefetch, temporary_path


def test_the_temporary_name_is_hidden_beside_the_final_one():
    assert temporary_path("results/tables/auc.csv") == Path("results/tables/.auc.csv.part")
    assert temporary_path(Path("/a/b/epoch_001.pt")) == Path("/a/b/.epoch_001.pt.part")


def test_atomic_output_round_trips_and_appears_only_when_complete(tmp_path):
    path = tmp_path / "new" / "folder" / "values.npy"  # the folders are made
    values = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
    with atomic_output(path) as tmp:
        assert tmp == tmp_path / "new/folder/.values.npy.part" and tmp.parent.is_dir()
        with open(tmp, "wb") as stream:
            np.save(stream, values)
        assert tmp.stat().st_size > values.nbytes and not path.exists()  # written, not yet under its name
    np.testing.assert_array_equal(np.load(path), values)
    assert sorted(p.name for p in path.parent.iterdir()) == ["values.npy"]  # the temporary name is gone
    with atomic_output(path) as tmp:  # a second write replaces the first whole
        tmp.write_text("second\n")
    assert path.read_text() == "second\n"


def test_a_writer_that_raises_leaves_the_old_file_and_no_half_written_one(tmp_path):
    path = tmp_path / "auc.csv"
    path.write_text("model,auc\nnominal,0.91\n")
    with pytest.raises(OSError, match="disk full"), atomic_output(path) as tmp:
        with open(tmp, "w") as stream:
            stream.write("model,auc\nnominal,")  # half a table
            stream.flush()
            assert tmp.read_text() == "model,auc\nnominal,"
            raise OSError("disk full")
    assert path.read_text() == "model,auc\nnominal,0.91\n"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["auc.csv"]  # the half-written file removed
    fresh = tmp_path / "never.csv"
    with pytest.raises(KeyboardInterrupt), atomic_output(fresh) as tmp:  # any exception, not only Exception
        tmp.write_text("partial")
        raise KeyboardInterrupt
    assert not fresh.exists() and not temporary_path(fresh).exists()


def test_a_stale_temporary_file_of_a_killed_job_is_not_written_into(tmp_path):
    path = tmp_path / "scores.parquet"
    temporary_path(path).write_bytes(b"left by a job killed mid-write")
    with atomic_output(path) as tmp:
        assert not tmp.exists()  # removed before the writer starts
        with open(tmp, "ab") as stream:  # even appending starts from nothing
            stream.write(b"fresh")
    assert path.read_bytes() == b"fresh" and not temporary_path(path).exists()


def _counted(items, produced: list):
    for item in items:
        produced.append(item)
        yield item


def test_prefetch_keeps_the_order_and_reads_at_most_its_depth_ahead():
    produced: list[int] = []
    consumed = []
    for item in prefetch(_counted(range(50), produced), depth=3):
        # the producer is at most depth items in the queue plus one in its hand ahead of the consumer
        assert len(produced) <= len(consumed) + 1 + 3 + 1
        consumed.append(item)
    assert consumed == list(range(50)) and produced == list(range(50))
    assert list(prefetch(iter([]))) == []


def test_the_producers_error_reaches_the_consumer_after_the_items_before_it():
    def failing():
        yield from ("a", "b")
        raise ValueError("block 3 is truncated")

    consumed = []
    with pytest.raises(ValueError, match="block 3 is truncated"):
        for item in prefetch(failing()):
            consumed.append(item)
    assert consumed == ["a", "b"]


def test_leaving_early_stops_the_producer():
    produced: list[int] = []
    stream = prefetch(_counted(iter(range(10**9)), produced), depth=2)  # endless for practical purposes
    assert [next(stream) for _ in range(5)] == [0, 1, 2, 3, 4]
    stream.close()  # the consumer stops: the finally block drains the queue and joins the thread
    assert not [t for t in threading.enumerate() if t.name == "robusttag-prefetch"]
    assert len(produced) <= 5 + 2 + 2  # it stopped within its depth of where the consumer left


def test_logging_to_a_file_then_the_error_that_ended_the_block(tmp_path):
    path = tmp_path / "job.log"
    with pytest.raises(RuntimeError, match="out of memory"), logging_to(path) as root:
        assert root is logging.getLogger()
        logging.getLogger("robusttag.training").info("epoch %d: train loss %.3f", 2, 0.4567)
        raise RuntimeError("out of memory")
    logging.getLogger("robusttag.training").info("after the block")  # the handler is gone
    lines = path.read_text().splitlines()
    assert lines[0].endswith(" robusttag.training INFO epoch 2: train loss 0.457")
    assert lines[0][:4].isdigit() and lines[0][4] == "-"  # a time stamp first
    assert lines[1].endswith(" root ERROR failed: out of memory")  # the message first, then the traceback
    assert lines[2] == "Traceback (most recent call last):" and lines[-1] == "RuntimeError: out of memory"
    assert "after the block" not in path.read_text()


def test_end_job_flushes_the_output_and_skips_the_teardown():
    program = (
        "import atexit, sys\n"
        "from robusttag.io import end_job\n"
        "atexit.register(lambda: print('teardown ran'))\n"
        "print('scores written', end='')\n"
        "sys.stderr.write('and logged')\n"
        "end_job()\n"
        "print('after end_job')\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "scores written", "and logged")


GLIBC_HEAP = """
import ctypes, sys
from robusttag.io import reuse_freed_memory

class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
libc.malloc.restype, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
if sys.argv[1] == "reuse":
    reuse_freed_memory()
before = libc.mallinfo2()
buffer = libc.malloc(64 << 20)
during = libc.mallinfo2()
libc.free(buffer)
after = libc.mallinfo2()
print(during.hblkhd - before.hblkhd, after.arena - before.arena)
"""


def test_reuse_freed_memory_keeps_large_buffers_in_the_heap():
    """A 64 MiB buffer: mapped afresh by default; after reuse_freed_memory taken from the heap, which keeps
    it when freed (mallinfo2's mapped bytes and heap size, in a fresh process each)."""
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only: elsewhere reuse_freed_memory does nothing")

    def mapped_and_kept(mode: str) -> tuple[int, int]:
        done = subprocess.run([sys.executable, "-c", GLIBC_HEAP, mode], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return tuple(int(v) for v in done.stdout.split())

    mapped, kept = mapped_and_kept("default")
    assert mapped >= 64 << 20 and kept < 64 << 20  # its own mapping, returned on free
    mapped, kept = mapped_and_kept("reuse")
    assert mapped == 0 and kept >= 64 << 20  # from the heap, which keeps it for the next buffer
