"""Reader and writer of the Jet Flavor Dataset's JSON-lines format.

One jet per line, a JSON array ``[jet_pt, jet_eta, flavor, [8 tracking],
[6 vertex], [track, ...]]`` with each track ``[[5 helix], [15 covariance],
[weight], [7 vertex]]``; non-finite values as the strings ``"NaN"``,
``"-NaN"``, ``"inf"``, ``"-inf"`` (bare ``NaN``/``Infinity`` tokens and
``"nan"`` are accepted too). Files may be gzipped (``.gz``) or plain.

Reading is the hot path (11.5 M jets, 16 GB of text), so it does not parse
line by line. A block of complete lines is checked for its *shape* in one
pass (all numbers deleted, each line must leave exactly the bracket skeleton
of a jet with n tracks) and its numbers are parsed in one call of Arrow's
multi-threaded CSV parser, one number per row. Only when a block fails does
a slow, careful per-line parser run over it, to name the line and what is
wrong.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from ..errors import DataFormatError
from ..features import FLAVOR, FLAVOR_CODES, JET_TRACKING, JET_VERTEX, RAW_JET_FIELDS, TRACK_FIELDS, TRACK_GROUPS
from ..io import atomic_output, prefetch, reuse_freed_memory
from ..jets import JetBatch

try:  # Intel's ISA-L inflates about 3x faster than zlib, same interface
    from isal import isal_zlib as zlib
except ImportError:  # pragma: no cover - isal is a declared dependency
    import zlib  # type: ignore[no-redef]

N_JET_VALUES = len(RAW_JET_FIELDS)  # 17
N_TRACK_VALUES = len(TRACK_FIELDS)  # 28
_FLAVOR_INDEX = RAW_JET_FIELDS.index(FLAVOR)

# ---------------------------------------------------------------------------
# Line skeletons: what is left of a line once every number is deleted
# ---------------------------------------------------------------------------


def _list_skeleton(n: int) -> str:
    return "[" + "," * (n - 1) + "]"


_SKELETON_HEAD = ("[,,," + _list_skeleton(len(JET_TRACKING)) + "," + _list_skeleton(len(JET_VERTEX)) + ",[").encode()
_SKELETON_TRACK = ("[" + ",".join(_list_skeleton(len(g)) for g in TRACK_GROUPS) + "]").encode()
_SKELETON_TAIL = b"]]"


class _SkeletonTable(dict):
    """Maps a line skeleton to its number of tracks; unknown shapes map to -1."""

    def __missing__(self, skeleton: bytes) -> int:
        n = -1
        body = len(skeleton) - len(_SKELETON_HEAD) - len(_SKELETON_TAIL)
        if body >= 0:
            candidate = (body + 1) // (len(_SKELETON_TRACK) + 1)
            if skeleton == _SKELETON_HEAD + b",".join([_SKELETON_TRACK] * candidate) + _SKELETON_TAIL:
                n = candidate
        self[skeleton] = n
        return n


_SKELETONS = _SkeletonTable()

# Deleted to leave a line's skeleton. Quotes go too: the file quotes its
# non-finite values ("NaN", "-inf"), which Arrow parses without them.
_NUMBER_CHARACTERS = b'0123456789.+-eEnNaAiIfFtTyY"'
# Brackets and quotes vanish, commas become row breaks: one number per row.
# Every value slot gives exactly one row, so an empty slot is an empty row,
# which Arrow reports, and the row count matches the skeleton's slot count.
_TO_ONE_NUMBER_PER_ROW = bytes.maketrans(b",", b"\n")
# Blanks next to brackets, commas or line ends carry no meaning in JSON.
_INSIGNIFICANT_BLANKS = re.compile(rb"[ \t]*([\[\],\n])[ \t]*")


def parse_block(block: bytes, path: str = "<memory>", first_line: int = 1) -> JetBatch:
    """Parse complete lines of the dataset format into a :class:`JetBatch`.

    Parameters
    ----------
    block : bytes of one or more complete lines (a final newline is optional).
    path, first_line : used only to name the place of an error.

    Raises
    ------
    DataFormatError
        When a line is malformed; the message names the file, the line and what was wrong.
    """
    batch = _fast_parse(block, path, first_line)
    if batch is None:
        _raise_first_error(block, path, first_line)
    return batch


def _fast_parse(block: bytes, path: str, first_line: int) -> JetBatch | None:
    """The whole-block parse; None if anything does not fit (then explained line by line)."""
    text = _with_insignificant_blanks_only(block)
    if text is None:
        return None
    # The blanks left all follow a comma: both translations simply delete them.
    skeleton_lines = text.translate(None, _NUMBER_CHARACTERS + b" ").split(b"\n")
    if skeleton_lines[-1] == b"":
        skeleton_lines.pop()
    n_tracks = np.fromiter((_SKELETONS[s] for s in skeleton_lines), dtype=np.int64, count=len(skeleton_lines))
    if len(n_tracks) == 0 or (n_tracks < 0).any():
        return None
    if b"[]]" in text:  # jets without tracks: drop the empty list, it holds no slot
        text = text.replace(b", []]", b"]").replace(b",[]]", b"]")
    values = _parse_numbers(text.translate(_TO_ONE_NUMBER_PER_ROW, b'[]" '))
    counts = N_JET_VALUES + N_TRACK_VALUES * n_tracks
    if values is None or len(values) != counts.sum():
        return None
    return _assemble(values, n_tracks, counts, path, first_line)


def _with_insignificant_blanks_only(block: bytes) -> bytes | None:
    """The block with every blank right after a comma (as the real file's ", "),
    or None if a blank separates two tokens ("1.5 2.5" must not become one number).
    """
    characters = np.frombuffer(block, dtype=np.uint8)
    blank = characters == ord(" ")
    if not blank[:1].any() and not (blank[1:] & (characters[:-1] != ord(","))).any():
        if b"\t" not in block and b"\r" not in block:
            return block
    text = _INSIGNIFICANT_BLANKS.sub(rb"\1", block.replace(b"\r\n", b"\n"))
    if b" " in text or b"\t" in text or b"\r" in text:
        return None
    return text


def _parse_numbers(rows: bytes) -> np.ndarray | None:
    """All numbers of a block, one per row, or None if any is not a number."""
    try:
        table = pa_csv.read_csv(
            io.BytesIO(rows),
            read_options=pa_csv.ReadOptions(column_names=["v"], block_size=1 << 23, use_threads=False),
            parse_options=pa_csv.ParseOptions(delimiter="\x01", quote_char=False, ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(column_types={"v": pa.float32()}, null_values=[]),
        )
    except pa.ArrowInvalid:
        return None
    column = table.column(0)
    if column.null_count:
        return None
    # ChunkedArray.to_numpy is several times slower than joining the chunks' views.
    return np.concatenate([chunk.to_numpy() for chunk in column.chunks])


def _assemble(values: np.ndarray, n_tracks: np.ndarray, counts: np.ndarray, path: str, first_line: int) -> JetBatch:
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    head = values[starts[:, None] + np.arange(N_JET_VALUES)]
    is_track_value = np.ones(len(values), dtype=bool)
    is_track_value[starts[:, None] + np.arange(N_JET_VALUES)] = False
    track_values = values[is_track_value].reshape(-1, N_TRACK_VALUES)

    flavor = head[:, _FLAVOR_INDEX]
    known = np.isin(flavor, list(FLAVOR_CODES))
    if not known.all():
        bad = int(np.argmin(known))
        raise DataFormatError(
            path,
            f"unknown flavour code {float(flavor[bad]):g}; expected one of 0 (light), 4 (c), 5 (b)",
            first_line + bad,
        )
    jets = {name: np.ascontiguousarray(head[:, i]) for i, name in enumerate(RAW_JET_FIELDS)}
    jets[FLAVOR] = flavor.astype(np.int8)
    tracks = {name: np.ascontiguousarray(track_values[:, i]) for i, name in enumerate(TRACK_FIELDS)}
    offsets = np.concatenate([[0], np.cumsum(n_tracks)]).astype(np.int64)
    return JetBatch(jets, tracks, offsets)


# ---------------------------------------------------------------------------
# The careful per-line parser: only to explain a failure
# ---------------------------------------------------------------------------


def _raise_first_error(block: bytes, path: str, first_line: int) -> None:
    lines = block.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if not lines:
        raise DataFormatError(path, "no jets: the block is empty", first_line)
    for i, line in enumerate(lines):
        problem = explain_line(line)
        if problem is None and _fast_parse(line, path, first_line + i) is None:
            problem = "a value could not be read as a number"
        if problem:
            raise DataFormatError(path, problem, first_line + i)
    raise DataFormatError(path, "could not be parsed", first_line)


def explain_line(line: bytes) -> str | None:
    """What is wrong with one line of the dataset format, or None if it is valid."""
    if not line.strip():
        return "empty line; expected one jet as a JSON array"
    try:
        jet = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return f"not valid JSON ({error})"
    if not isinstance(jet, list) or len(jet) != 6:
        found = f"{len(jet)} elements" if isinstance(jet, list) else type(jet).__name__
        return f"expected a JSON array of 6 elements [jet_pt, jet_eta, flavor, [8], [6], [tracks]], found {found}"
    for position, name in enumerate(RAW_JET_FIELDS[:3]):
        if (problem := _explain_number(jet[position], name)) is not None:
            return problem
    for position, names in ((3, JET_TRACKING), (4, JET_VERTEX)):
        if (problem := _explain_list(jet[position], names, f"element {position + 1}")) is not None:
            return problem
    if not isinstance(jet[5], list):
        return f"element 6 must be the list of tracks, found {type(jet[5]).__name__}"
    for k, track in enumerate(jet[5]):
        if not isinstance(track, list) or len(track) != len(TRACK_GROUPS):
            found = f"{len(track)} lists" if isinstance(track, list) else type(track).__name__
            return f"track {k + 1}: expected 4 lists [helix(5), covariance(15), weight(1), vertex(7)], found {found}"
        for names, values in zip(TRACK_GROUPS, track):
            if (problem := _explain_list(values, names, f"track {k + 1}")) is not None:
                return problem
    flavor = _as_float(jet[2])
    if flavor not in FLAVOR_CODES:
        return f"unknown flavour code {jet[2]!r}; expected one of 0 (light), 4 (c), 5 (b)"
    return None


def _explain_list(values: object, names: tuple[str, ...], where: str) -> str | None:
    if not isinstance(values, list) or len(values) != len(names):
        found = f"{len(values)} values" if isinstance(values, list) else type(values).__name__
        return f"{where}: expected {len(names)} values ({names[0]} ... {names[-1]}), found {found}"
    for value, name in zip(values, names):
        if (problem := _explain_number(value, name)) is not None:
            return f"{where}: {problem}"
    return None


def _explain_number(value: object, name: str) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return f"{name}: expected a number, found {json.dumps(value)[:40]}"
    if isinstance(value, str) and not _QUOTED_NUMBER.fullmatch(value):
        return (
            f'{name}: the string "{value[:40]}" is not a number (quoted values must be numbers such as "NaN", "-inf")'
        )
    return None


# What the fast path reads inside quotes (the file quotes "NaN", "-NaN", "inf", "-inf").
_QUOTED_NUMBER = re.compile(r"[+-]?((\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|nan|inf|infinity)", re.IGNORECASE)


def _as_float(value: object) -> float:
    return float(value) if isinstance(value, int | float) else float("nan")


# ---------------------------------------------------------------------------
# Streaming a file
# ---------------------------------------------------------------------------


def _read_decompressed(path: Path, chunk_bytes: int = 1 << 20) -> Iterator[bytes]:
    """Decompressed bytes of a gzip file (several members allowed), or a plain file.

    Raises
    ------
    DataFormatError
        While iterating, when the gzip stream is corrupt or truncated.
    """
    with open(path, "rb") as stream:
        if path.suffix != ".gz":
            while chunk := stream.read(chunk_bytes):
                yield chunk
            return
        inflater = None  # None between gzip members
        while compressed := stream.read(chunk_bytes):
            while compressed:
                if inflater is None:
                    if not compressed.strip(b"\0"):  # zero padding after the last member
                        break
                    inflater = zlib.decompressobj(wbits=31)
                try:
                    yield inflater.decompress(compressed)
                except zlib.error as error:
                    raise DataFormatError(str(path), f"corrupt gzip data ({error})") from None
                if not inflater.eof:
                    break
                compressed, inflater = inflater.unused_data, None  # a further member may follow
        if inflater is not None:
            raise DataFormatError(str(path), "the gzip stream ends early: the file is truncated")


def iter_blocks(path: str | os.PathLike, block_bytes: int = 16 << 20) -> Iterator[tuple[int, bytes]]:
    """Yield ``(first_line_number, block)`` with blocks of complete lines.

    Memory stays at a few times ``block_bytes`` whatever the file size.

    Raises
    ------
    DataFormatError
        While iterating, when the file is empty, or its gzip stream is corrupt or
        truncated (the message counts the complete lines before the fault).
    """
    path = Path(path)
    line = 1
    pending: list[bytes] = []
    pending_bytes = 0
    try:
        for chunk in _read_decompressed(path):
            pending.append(chunk)
            pending_bytes += len(chunk)
            if pending_bytes < block_bytes:
                continue
            data = b"".join(pending)
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                pending, pending_bytes = [data], len(data)
                continue
            block = data[:cut]
            pending, pending_bytes = [data[cut:]], len(data) - cut
            yield line, block
            line += block.count(b"\n")
    except DataFormatError as error:
        complete = line - 1 + sum(chunk.count(b"\n") for chunk in pending)
        raise DataFormatError(str(path), f"{error.reason}; {complete} complete lines before the fault") from None
    rest = b"".join(pending)
    if rest.strip():
        yield line, rest
    elif line == 1:
        raise DataFormatError(str(path), "the file is empty; expected one jet per line")


def read_jets(path: str | os.PathLike, block_bytes: int = 16 << 20, workers: int | None = None) -> Iterator[JetBatch]:
    """Stream a dataset file (``.json`` or ``.json.gz``) as :class:`JetBatch` es, in file order.

    Parameters
    ----------
    workers : processes that parse blocks in parallel while this one inflates
        and hands them out; default: the number of CPUs; 0 parses in-process.

    Raises
    ------
    DataFormatError
        While iterating, when the input is malformed; the message names the file and line.
    """
    workers = (os.cpu_count() or 1) if workers is None else workers
    reuse_freed_memory()
    if workers == 0:
        for first_line, block in prefetch(iter_blocks(path, block_bytes)):
            yield parse_block(block, str(path), first_line)
        return
    # Workers are forked before the read-ahead thread exists (forking a
    # threaded process is unsafe), and fork, unlike spawn, does not re-run the
    # caller's main script.
    with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
        pool.submit(int).result()  # starts every worker now
        pending: list[Future] = []  # a bounded window: memory independent of file size
        for first_line, block in prefetch(iter_blocks(path, block_bytes)):
            pending.append(pool.submit(parse_block, block, str(path), first_line))
            if len(pending) > workers:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()


# ---------------------------------------------------------------------------
# Writing (used by the synthetic generator)
# ---------------------------------------------------------------------------

# Separators in front of each value, in the real file's layout ", "-separated.
_SEPARATORS = [
    b"[",  # 0: first value of the first line
    b"]]]]\n[",  # 1: first value of a later line, previous line had tracks
    b"], []]\n[",  # 2: first value of a later line, previous line had no tracks
    b", ",  # 3: inside a list
    b", [",  # 4: opening the tracking list
    b"], [",  # 5: next list at the same depth
    b"], [[[",  # 6: first value of the first track
    b"]], [[",  # 7: first value of a later track
]
_END_WITH_TRACKS, _END_WITHOUT_TRACKS = b"]]]]\n", b"], []]\n"
# Non-finite values are written as the real file writes them: quoted.
_NON_FINITE = {"nan": b'"NaN"', "inf": b'"inf"', "-inf": b'"-inf"'}


def _jet_separators() -> np.ndarray:
    codes = np.full(N_JET_VALUES, 3, dtype=np.int32)
    codes[0] = 0
    codes[3] = 4
    codes[3 + len(JET_TRACKING)] = 5
    return codes


def _track_separators() -> np.ndarray:
    codes = np.full(N_TRACK_VALUES, 3, dtype=np.int32)
    start = 0
    for group in TRACK_GROUPS:
        codes[start] = 5
        start += len(group)
    codes[0] = 7
    return codes


def encode_jets(batch: JetBatch) -> bytes:
    """The lines of ``batch`` in the dataset's text format (each ending in a newline)."""
    n_jets = len(batch)
    if n_jets == 0:
        return b""
    n_tracks = batch.n_tracks
    counts = N_JET_VALUES + N_TRACK_VALUES * n_tracks
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    total = int(counts.sum())

    values = np.empty(total, dtype=np.float32)
    codes = np.empty(total, dtype=np.int32)
    head_positions = starts[:, None] + np.arange(N_JET_VALUES)
    values[head_positions] = np.stack([batch.jets[name] for name in RAW_JET_FIELDS], axis=1)
    codes[head_positions] = _jet_separators()
    codes[starts[1:]] = np.where(n_tracks[:-1] > 0, 1, 2)
    is_track_value = np.ones(total, dtype=bool)
    is_track_value[head_positions] = False
    values[is_track_value] = np.stack([batch.tracks[f] for f in TRACK_FIELDS], axis=1).ravel()
    track_codes = np.tile(_track_separators(), int(n_tracks.sum())).reshape(-1, N_TRACK_VALUES)
    first_tracks = batch.offsets[:-1][n_tracks > 0]
    track_codes[first_tracks, 0] = 6
    codes[is_track_value] = track_codes.ravel()

    # Interleave separator and value strings; the taken array's data buffer is the text.
    vocabulary = [*_SEPARATORS, *_NON_FINITE.values()]
    pieces = pa.concat_arrays(
        [
            pa.array(vocabulary, pa.large_string()),
            pc.cast(pa.array(values), pa.large_string()),  # shortest text that reads back as the same float32
        ]
    )
    value_index = len(vocabulary) + np.arange(total)
    value_index[np.isnan(values)] = len(_SEPARATORS)
    value_index[values == np.inf] = len(_SEPARATORS) + 1
    value_index[values == -np.inf] = len(_SEPARATORS) + 2
    order = np.empty(2 * total, dtype=np.int64)
    order[0::2] = codes
    order[1::2] = value_index
    joined = pieces.take(pa.array(order))
    text_offsets = np.frombuffer(joined.buffers()[1], dtype=np.int64, count=len(joined) + 1, offset=joined.offset * 8)
    body = joined.buffers()[2].to_pybytes()[text_offsets[0] : text_offsets[-1]]
    return body + (_END_WITH_TRACKS if n_tracks[-1] > 0 else _END_WITHOUT_TRACKS)


#: Jets encoded at a time when writing (a bounded text buffer)
_WRITE_JETS = 10_000


def write_json_jets(output: str | os.PathLike, batches, compresslevel: int = 2) -> None:
    """Jets in the dataset's JSON lines, gzipped when ``output`` ends in ``.gz`` (no file name and no time stamp in
    the header: the bytes depend on the jets only), written whole or not at all.
    """
    from isal import igzip

    output = Path(output)
    with atomic_output(output) as tmp, open(tmp, "wb") as raw:
        gz = output.name.lower().endswith(".gz")
        sink = igzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=compresslevel, mtime=0) if gz else raw
        with sink:
            for batch in batches:
                for start in range(0, len(batch), _WRITE_JETS):
                    sink.write(encode_jets(batch.slice(start, start + _WRITE_JETS)))


def concatenate_files(inputs, output: str | os.PathLike, block_bytes: int = 16 << 20) -> None:
    """Files of jets one after the other in one file (gzip members concatenate into one gzip stream), written whole
    or not at all; each gzipped input is inflated first, so that a truncated or corrupt one is named here.

    Raises
    ------
    DataFormatError
        When an input's gzip stream is corrupt or ends early, naming it.
    """
    for path in inputs:
        for _ in _read_decompressed(Path(path)):
            pass
    with atomic_output(output) as tmp, open(tmp, "wb") as sink:
        for path in inputs:
            with open(path, "rb") as source:
                while block := source.read(block_bytes):
                    sink.write(block)
