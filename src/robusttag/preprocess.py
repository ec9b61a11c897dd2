"""From the raw jets to the model's inputs: track ordering, defaults with an
explicit mask, the train/val/test split, standard scaling and (eta, pT)
flavour weights.

Two streaming passes over ``results/raw/jets.parquet`` keep memory bounded
whatever the number of jets: the first gathers training-set statistics
(column minima and ranges for the defaults, mean and variance of the genuine
values, flavour histograms), the second applies them and writes the splits.
Only the split assignment (one byte per jet) is held for the whole file.
"""

from __future__ import annotations

import json
import logging
import os
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .config import PreprocessSettings
from .errors import DataFormatError
from .features import (
    FLAVOR,
    FLAVOR_CODES,
    LABELS,
    PRESENT,
    TRACK_FIELDS,
    BelowMinimum,
    Feature,
    Fixed,
    InputLayout,
    default_column,
)
from .io import atomic_output
from .jets import JetBatch

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
RAW_KINEMATICS = {"raw_jet_pt": "jet_pt", "raw_jet_eta": "jet_eta"}  #: plotting columns -> raw field


# ---------------------------------------------------------------------------
# Per-jet arrays
# ---------------------------------------------------------------------------


def read_summary(path: str | os.PathLike) -> dict:
    """The content of ``preprocessing.json``: feature order, defaults, means, standard deviations.

    Raises
    ------
    DataFormatError
        When the file is not JSON or lacks the feature order.
    """
    try:
        summary = json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise DataFormatError(str(path), f"not JSON ({error})") from error
    if "feature_order" not in summary or "features" not in summary:
        raise DataFormatError(str(path), "lacks 'feature_order' or 'features': not a preprocessing summary")
    return summary


def order_tracks(batch: JetBatch, order: str) -> np.ndarray:
    """Permutation of the flat tracks that puts each jet's tracks in ``order``.

    ``signed_d0_significance`` (the paper's, default) and ``abs_...`` sort by
    decreasing d0 / sqrt(d0d0) (or its magnitude); tracks whose significance is
    not finite come last; ``file`` keeps the file order.
    """
    jet = np.repeat(np.arange(len(batch)), batch.n_tracks)
    if order == "file":
        return np.arange(len(jet))
    with np.errstate(invalid="ignore", divide="ignore"):
        key = batch.tracks["d0"] / np.sqrt(batch.tracks["d0d0"])
    if order == "abs_d0_significance":
        key = np.abs(key)
    key = np.where(np.isfinite(key), key, -np.inf)
    return np.lexsort((-key, jet))  # stable: ties keep file order


def raw_inputs(batch: JetBatch, features: tuple[Feature, ...], order: str) -> tuple[np.ndarray, np.ndarray]:
    """Raw input matrix (n_jets, n_features) float32 and a mask of absent track slots.

    A PRESENT input (the sequence layout's padding mask) is 1 for a track of the jet and 0 for an
    absent one; like every input of an absent track, it is then a default.
    """
    n_jets, n_slots = len(batch), 1 + max(f.slot or 0 for f in features)
    permutation = order_tracks(batch, order)
    jet = np.repeat(np.arange(n_jets), batch.n_tracks)
    rank = np.arange(len(jet)) - batch.offsets[:-1][jet]
    keep = rank < n_slots
    source, target_jet, target_slot = permutation[keep], jet[keep], rank[keep]
    slots = {}
    for field_name in TRACK_FIELDS:
        values = np.full((n_jets, n_slots), np.nan, dtype=np.float32)
        values[target_jet, target_slot] = batch.tracks[field_name][source]
        slots[field_name] = values
    present = np.arange(n_slots) < batch.n_tracks[:, None]

    # Column-major: each feature is one contiguous column, written and read as such.
    matrix = np.empty((n_jets, len(features)), dtype=np.float32, order="F")
    absent = np.zeros((n_jets, len(features)), dtype=bool, order="F")
    for i, feature in enumerate(features):
        if feature.slot is None:
            matrix[:, i] = batch.jets[feature.source]
        elif feature.source == PRESENT:
            matrix[:, i] = present[:, feature.slot]
            absent[:, i] = ~present[:, feature.slot]
        else:
            matrix[:, i] = slots[feature.source][:, feature.slot]
            absent[:, i] = ~present[:, feature.slot]
    return matrix, absent


def fixed_default_mask(matrix: np.ndarray, absent: np.ndarray, features: tuple[Feature, ...]) -> np.ndarray:
    """Which values are defaults, for columns whose default does not depend on the data.

    A value is a default when its track slot is absent, when it is not finite,
    or (fixed defaults) when it lies below the default. Columns with a
    data-driven default are masked here by absence and finiteness only; a
    genuine value can never lie below the training minimum it defines.
    """
    fixed = np.array([f.default.value if isinstance(f.default, Fixed) else -np.inf for f in features], np.float32)
    with np.errstate(invalid="ignore"):
        return absent | ~np.isfinite(matrix) | (matrix < fixed)


# ---------------------------------------------------------------------------
# Statistics of the training set
# ---------------------------------------------------------------------------


@dataclass
class _RunningColumns:
    """Count, mean, M2 (Chan et al. merge), min and max of genuine values per column."""

    n_features: int
    count: np.ndarray = field(init=False)
    mean: np.ndarray = field(init=False)
    m2: np.ndarray = field(init=False)
    minimum: np.ndarray = field(init=False)
    maximum: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.count = np.zeros(self.n_features)
        self.mean = np.zeros(self.n_features)
        self.m2 = np.zeros(self.n_features)
        self.minimum = np.full(self.n_features, np.inf)
        self.maximum = np.full(self.n_features, -np.inf)

    def add(self, matrix: np.ndarray, default: np.ndarray) -> None:
        if len(matrix) == 0:  # a batch without training jets
            return
        genuine = ~default
        values = np.where(genuine, matrix, np.float32(0.0))
        count = genuine.sum(axis=0).astype(np.float64)
        mean = values.sum(axis=0, dtype=np.float64) / np.maximum(count, 1)
        deviation = np.where(genuine, values - mean.astype(np.float32), np.float32(0.0))
        m2 = np.einsum("ij,ij->j", deviation, deviation, dtype=np.float64)
        total = self.count + count
        delta = mean - self.mean
        with np.errstate(invalid="ignore", divide="ignore"):
            self.mean = np.where(total > 0, self.mean + delta * count / total, 0.0)
            self.m2 = self.m2 + m2 + np.where(total > 0, delta**2 * self.count * count / total, 0.0)
        self.count = total
        self.minimum = np.minimum(self.minimum, np.where(genuine, matrix, np.inf).min(axis=0))
        self.maximum = np.maximum(self.maximum, np.where(genuine, matrix, -np.inf).max(axis=0))

    def pooled(self, groups: np.ndarray) -> _RunningColumns:
        """The statistics of the union of the columns of each group, given back to every column of it.

        ``groups`` holds a group number per column; the columns of one group are merged as batches
        are (Chan et al.): the counts add, the means average with the counts as weights, M2 gains
        the spread of the column means.
        """
        pooled = _RunningColumns(self.n_features)
        for group in np.unique(groups):
            columns = groups == group
            count = self.count[columns].sum()
            mean = (self.count[columns] * self.mean[columns]).sum() / count if count else 0.0
            spread = (self.count[columns] * (self.mean[columns] - mean) ** 2).sum()
            pooled.count[columns], pooled.mean[columns] = count, mean
            pooled.m2[columns] = self.m2[columns].sum() + spread
            pooled.minimum[columns], pooled.maximum[columns] = self.minimum[columns].min(), self.maximum[columns].max()
        return pooled


def scaling_groups(features: tuple[Feature, ...], layout: str) -> np.ndarray:
    """A group number per input: the inputs of one group share their default, mean and width.

    In the flat layout every column is its own group (each track slot is scaled on its own, as the
    paper's code does). In the sequence layout a track field forms one group over all slots.
    """
    if layout == "flat":
        return np.arange(len(features))
    keys = [f.name if f.slot is None else f"track:{f.source}" for f in features]
    return np.unique(keys, return_inverse=True)[1]


def _defaults(features: tuple[Feature, ...], stats: _RunningColumns) -> np.ndarray:
    defaults = np.empty(len(features))
    for i, feature in enumerate(features):
        rule = feature.default
        if isinstance(rule, Fixed):
            defaults[i] = rule.value
        elif stats.count[i] == 0:  # no genuine training value at all: any constant will do
            defaults[i] = 0.0
        else:
            assert isinstance(rule, BelowMinimum)
            spread = stats.maximum[i] - stats.minimum[i]
            step = rule.step if rule.step is not None else 1e-3 * (spread or abs(stats.minimum[i]) or 1.0)
            defaults[i] = stats.minimum[i] - step
    return defaults


@dataclass
class FlavourWeights:
    """(eta, pT) reweighting of every flavour to the average shape, with class balance."""

    eta_edges: np.ndarray
    pt_edges: np.ndarray
    histograms: np.ndarray  #: (3, n_eta, n_pt) jet counts per training label

    @classmethod
    def empty(cls, settings: PreprocessSettings) -> FlavourWeights:
        n_eta, n_pt = settings.weight_bins
        return cls(
            np.linspace(*settings.eta_range, n_eta + 1),
            np.linspace(*settings.pt_range_gev, n_pt + 1),
            np.zeros((len(LABELS), n_eta, n_pt)),
        )

    def bins(self, eta: np.ndarray, pt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bin indices; jets outside the ranges fall into the edge bins."""
        i = np.clip(np.searchsorted(self.eta_edges, eta, side="right") - 1, 0, len(self.eta_edges) - 2)
        j = np.clip(np.searchsorted(self.pt_edges, pt, side="right") - 1, 0, len(self.pt_edges) - 2)
        return i, j

    def fill(self, label: np.ndarray, eta: np.ndarray, pt: np.ndarray) -> None:
        i, j = self.bins(eta, pt)
        np.add.at(self.histograms, (label, i, j), 1.0)

    def weights(self, label: np.ndarray, eta: np.ndarray, pt: np.ndarray) -> np.ndarray:
        """Target / own-flavour density in the jet's bin, times N_total / (3 N_flavour)
        (divided by the share of the target the flavour covers, 1 when no bin is empty).

        Jets in a bin that holds no training jet of their flavour get weight 0.

        Raises
        ------
        DataFormatError
            When the training split holds no jet of some flavour.
        """
        counts = self.histograms.sum(axis=(1, 2))
        if (counts == 0).any():
            missing = [name for name, n in zip(LABELS, counts) if n == 0]
            raise DataFormatError(
                "training split", f"no training jets of flavour {missing}: cannot compute flavour weights"
            )
        density = self.histograms / counts[:, None, None]
        target = density.mean(axis=0)
        # Target mass in bins a flavour leaves empty cannot be reached; renormalise so
        # every flavour's training weights still sum to N_total / 3 (matters for sparse bins).
        reachable = np.array([target[d > 0].sum() for d in density])
        balance = counts.sum() / (len(LABELS) * counts * reachable)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(density > 0, target / density, 0.0) * balance[:, None, None]
        i, j = self.bins(eta, pt)
        return ratio[label, i, j].astype(np.float32)


# ---------------------------------------------------------------------------
# The two passes
# ---------------------------------------------------------------------------


def split_assignment(n_jets: int, fractions: tuple[float, float, float], seed: int) -> np.ndarray:
    """0 (train), 1 (val) or 2 (test) per jet: a seeded random split of exact sizes."""
    n_train = int(round(fractions[0] * n_jets))
    n_val = int(round(fractions[1] * n_jets))
    assignment = np.full(n_jets, 2, dtype=np.int8)
    permutation = np.random.default_rng(seed).permutation(n_jets)
    assignment[permutation[:n_train]] = 0
    assignment[permutation[n_train : n_train + n_val]] = 1
    return assignment


def labels_of(flavor: np.ndarray) -> np.ndarray:
    """Training labels b = 0, c = 1, light = 2 from the file's codes 5, 4, 0."""
    lookup = np.full(6, -1, dtype=np.int8)
    for code, name in FLAVOR_CODES.items():
        lookup[code] = LABELS[name]
    return lookup[flavor]


def jet_slices(raw: str | os.PathLike, rows: int) -> iter:
    for record_batch in pq.ParquetFile(raw).iter_batches(batch_size=rows):
        yield JetBatch.from_arrow(pa.Table.from_batches([record_batch]))


def preprocess(
    raw: str | os.PathLike,
    output_dir: str | os.PathLike,
    settings: PreprocessSettings | None = None,
    *,
    rows_per_batch: int = 100_000,
    provenance: dict | None = None,
) -> dict:
    """Write ``train/val/test.parquet`` and ``preprocessing.json`` into ``output_dir``.

    Returns the content of ``preprocessing.json``. ``provenance`` (e.g. the
    config that made the run) is stored in it verbatim.

    Raises
    ------
    DataFormatError
        When the training split holds no jet of some flavour, so the flavour
        weights cannot be computed.
    """
    settings = settings or PreprocessSettings()
    features = settings.features()
    n_jets = pq.ParquetFile(raw).metadata.num_rows
    assignment = split_assignment(n_jets, settings.split, settings.seed)

    stats = _RunningColumns(len(features))
    weights = FlavourWeights.empty(settings)
    start = 0
    for batch in jet_slices(raw, rows_per_batch):
        train = assignment[start : start + len(batch)] == 0
        start += len(batch)
        matrix, absent = raw_inputs(batch, features, settings.track_order)
        stats.add(matrix[train], fixed_default_mask(matrix, absent, features)[train])
        weights.fill(labels_of(batch.jets[FLAVOR][train]), batch.jets["jet_eta"][train], batch.jets["jet_pt"][train])

    empty = [name for name, n in zip(LABELS, weights.histograms.sum(axis=(1, 2))) if n == 0]
    if empty:
        raise DataFormatError(str(raw), f"no training jets of flavour {empty}: cannot compute flavour weights")
    stats = stats.pooled(scaling_groups(features, settings.layout))
    defaults = _defaults(features, stats).astype(np.float32)  # compared with float32 values in both passes
    scaled = np.array([f.scaled for f in features])
    degenerate = [f.name for f, n, m2, s in zip(features, stats.count, stats.m2, scaled) if s and (n < 2 or m2 <= 0)]
    mean = np.where(scaled, np.where(stats.count > 0, stats.mean, defaults), 0.0)
    std = np.sqrt(stats.m2 / np.maximum(stats.count - 1, 1))
    std = np.where((std > 0) & scaled, std, 1.0)  # constant or all-default column: shift only, never divide by 0
    if degenerate:
        log.warning("columns without spread in the training set (scaled with std 1): %s", degenerate)
    touching = [f.name for f, default, low in zip(features, defaults, stats.minimum) if low <= default]
    if touching:
        log.warning("genuine training values equal to the default (they stay genuine in the mask): %s", touching)

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    schema = _output_schema(features)
    sizes = {name: 0 for name in SPLITS}
    zero_weight = {name: 0 for name in SPLITS}
    with (
        atomic_output(output_dir / "train.parquet") as train_path,
        atomic_output(output_dir / "val.parquet") as val_path,
        atomic_output(output_dir / "test.parquet") as test_path,
    ):
        writers = [
            pq.ParquetWriter(p, schema, compression="zstd", use_dictionary=["label", FLAVOR])
            for p in (train_path, val_path, test_path)
        ]
        try:
            start = 0
            for batch in jet_slices(raw, rows_per_batch):
                part = assignment[start : start + len(batch)]
                start += len(batch)
                table = _transform(batch, features, settings, defaults, mean, std, weights, schema)
                for index, (name, writer) in enumerate(zip(SPLITS, writers)):
                    rows = table.filter(pa.array(part == index))
                    writer.write_table(rows)
                    sizes[name] += rows.num_rows
                    zero_weight[name] += int((rows.column("weight").to_numpy() == 0).sum())
        finally:
            for writer in writers:
                writer.close()
        summary = _summary(features, settings, defaults, mean, std, degenerate, sizes, zero_weight, weights, provenance)
        with atomic_output(output_dir / "preprocessing.json") as json_path:
            json_path.write_text(json.dumps(summary, indent=1))
    return summary


def preprocess_like(
    raw: str | os.PathLike, output: str | os.PathLike, summary: dict, *, rows_per_batch: int = 100_000
) -> int:
    """Every jet of ``raw`` preprocessed as the nominal preprocessing (``summary``, the content of its
    ``preprocessing.json``) treats its own test jets: the same track order, default thresholds, scaling
    and flavour weights, none refitted on ``raw``. So a sample from another simulation, or data, reaches
    a model exactly as that model would see it. One file with the schema of ``test.parquet``.

    Returns
    -------
    int
        The number of jets written.

    Raises
    ------
    DataFormatError
        When the summary's inputs are not those its settings make (a summary of another version).
    """
    transform, schema = stored_transform(summary)
    n_jets = 0
    with atomic_output(output) as path:
        with pq.ParquetWriter(path, schema, compression="zstd", use_dictionary=["label", FLAVOR]) as writer:
            for batch in jet_slices(raw, rows_per_batch):
                writer.write_table(transform(batch))
                n_jets += len(batch)
    return n_jets


def preprocess_splits_like(
    raw: str | os.PathLike,
    outputs: dict[str, str | os.PathLike],
    summary: dict,
    split: PreprocessSettings,
    *,
    rows_per_batch: int = 100_000,
) -> dict[str, int]:
    """The jets of some splits of ``raw`` (``outputs``: {split name: file}), each preprocessed as ``summary``
    (a ``preprocessing.json``, robusttag's or a user's) says, as :func:`preprocess_like` does.

    The splits are the nominal preprocessing's (``split``: its fractions and seed), so the jets are those
    of its ``val`` and ``test`` files, in the same order, whatever statistics scale them.

    Returns
    -------
    dict[str, int]
        The jets written per split.

    Raises
    ------
    DataFormatError
        As :func:`preprocess_like`, or for a split name that is not one of SPLITS.
    """
    unknown = sorted(set(outputs) - set(SPLITS))
    if unknown:
        raise DataFormatError(str(raw), f"no split {unknown}; choose from {SPLITS}")
    transform, schema = stored_transform(summary)
    assignment = split_assignment(pq.ParquetFile(raw).metadata.num_rows, split.split, split.seed)
    counts = dict.fromkeys(outputs, 0)
    with ExitStack() as stack:
        writers = {}
        for name, output in outputs.items():
            path = stack.enter_context(atomic_output(output))
            writer = pq.ParquetWriter(path, schema, compression="zstd", use_dictionary=["label", FLAVOR])
            writers[name] = stack.enter_context(writer)
        start = 0
        for record_batch in pq.ParquetFile(raw).iter_batches(batch_size=rows_per_batch):
            part = assignment[start : start + record_batch.num_rows]
            start += record_batch.num_rows
            table = pa.Table.from_batches([record_batch])
            for name, writer in writers.items():
                chosen = table.filter(pa.array(part == SPLITS.index(name)))
                writer.write_table(transform(JetBatch.from_arrow(chosen)))
                counts[name] += chosen.num_rows
    return counts


def preprocess_for_audit(
    raw: str | os.PathLike,
    summary_path: str | os.PathLike,
    split: PreprocessSettings,
    outputs: dict[str, str | os.PathLike],
    own_jets: str | os.PathLike | None = None,
) -> dict[str, int]:
    """An audited model's inputs: the nominal split's validation jets and its test jets (or, with
    ``own_jets``, every jet of that raw file), preprocessed as the summary at ``summary_path`` says, and
    that summary copied beside them (``outputs``: ``val``, ``test``, ``summary``).

    Returns
    -------
    dict[str, int]
        The jets written per split.
    """
    summary = read_summary(summary_path)  # a clear error for a file that is not a preprocessing summary
    splits = {"val": outputs["val"]} | ({} if own_jets else {"test": outputs["test"]})
    counts = preprocess_splits_like(raw, splits, summary, split)
    if own_jets:
        counts["test"] = preprocess_like(own_jets, outputs["test"], summary)
    with atomic_output(outputs["summary"]) as tmp:
        Path(tmp).write_text(Path(summary_path).read_text())
    return counts


def stored_settings(summary: dict) -> PreprocessSettings:
    """The settings that made a stored preprocessing (``preprocessing.json``'s content)."""
    stored = summary["settings"]
    return PreprocessSettings(
        n_tracks=stored["n_tracks"],
        max_tracks=stored.get("max_tracks", PreprocessSettings.max_tracks),
        layout=stored.get("layout", "flat"),
        track_order=stored["track_order"],
        split=tuple(stored.get("split", PreprocessSettings.split)),
        seed=stored.get("seed", PreprocessSettings.seed),
    )


def stored_transform(summary: dict):
    """(batch -> preprocessed table, its schema) of a stored preprocessing (``preprocessing.json``).

    Raises
    ------
    DataFormatError
        When the summary's inputs are not those its settings make (a summary of another version).
    """
    settings = stored_settings(summary)
    features = settings.features()
    if [f.name for f in features] != summary["feature_order"]:
        raise DataFormatError("preprocessing.json", "its feature order is not the one its settings make")
    columns = summary["features"]
    defaults = np.array([c["default"] for c in columns], dtype=np.float32)
    mean, std = np.array([c["mean"] for c in columns]), np.array([c["std"] for c in columns])
    histograms = summary["weights"]
    weights = FlavourWeights(
        np.array(histograms["eta_edges"]),
        np.array(histograms["pt_edges_gev"]),
        np.array(histograms["training_histograms"]),
    )
    schema = _output_schema(features)
    return (lambda batch: _transform(batch, features, settings, defaults, mean, std, weights, schema)), schema


def first_test_jets(raw: str | os.PathLike, summary: dict, n_jets: int, *, rows_per_batch: int = 100_000) -> JetBatch:
    """The first ``n_jets`` jets of the test split of ``raw`` (the split of the preprocessing ``summary``), in
    the order of ``test.parquet``: streamed, the file is never held whole.
    """
    settings = stored_settings(summary)
    n_total = pq.ParquetFile(raw).metadata.num_rows
    is_test = split_assignment(n_total, settings.split, settings.seed) == 2
    found, start = [], 0
    for record_batch in pq.ParquetFile(raw).iter_batches(batch_size=rows_per_batch):
        chosen = is_test[start : start + record_batch.num_rows]
        start += record_batch.num_rows
        found.append(JetBatch.from_arrow(pa.Table.from_batches([record_batch]).filter(pa.array(chosen))))
        if sum(map(len, found)) >= n_jets:
            break
    return JetBatch.concatenate(found).slice(0, n_jets)


def deployed_inputs(batch: JetBatch, summary: dict) -> np.ndarray:
    """The jets' inputs as a deployed tagger takes them (:mod:`robusttag.export.models`): the preprocessing's
    inputs in the dataset's own units, in its feature order, NaN where a track slot is empty; defaults and
    scaling are the tagger's business.
    """
    settings = stored_settings(summary)
    matrix, absent = raw_inputs(batch, settings.features(), settings.track_order)
    return np.ascontiguousarray(np.where(absent, np.float32(np.nan), matrix))


def _transform(batch, features, settings, defaults, mean, std, weights, schema) -> pa.Table:
    matrix, absent = raw_inputs(batch, features, settings.track_order)
    with np.errstate(invalid="ignore"):
        is_default = absent | ~np.isfinite(matrix) | (matrix < defaults)
    scaled = np.where(is_default, defaults.astype(np.float32), matrix)
    scaled -= mean.astype(np.float32)
    scaled /= std.astype(np.float32)
    label = labels_of(batch.jets[FLAVOR])
    columns = [pa.array(scaled[:, i]) for i in range(len(features))]
    columns += [pa.array(is_default[:, i]) for i in range(len(features))]
    columns += [
        pa.array(label),
        pa.array(weights.weights(label, batch.jets["jet_eta"], batch.jets["jet_pt"])),
        *(pa.array(batch.jets[source]) for source in RAW_KINEMATICS.values()),
        pa.array(batch.jets[FLAVOR]),
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _output_schema(features: tuple[Feature, ...]) -> pa.Schema:
    return pa.schema(
        [pa.field(f.name, pa.float32(), nullable=False) for f in features]
        + [pa.field(default_column(f.name), pa.bool_(), nullable=False) for f in features]
        + [
            pa.field("label", pa.int8(), nullable=False),
            pa.field("weight", pa.float32(), nullable=False),
            *(pa.field(name, pa.float32(), nullable=False) for name in RAW_KINEMATICS),
            pa.field(FLAVOR, pa.int8(), nullable=False),
        ]
    )


def _summary(features, settings, defaults, mean, std, degenerate, sizes, zero_weight, weights, provenance) -> dict:
    return {
        "features": [
            {
                "name": f.name,
                "group": f.group,
                "source": f.source,
                "slot": f.slot,
                "is_integer": f.is_integer,
                "default": float(d),
                "mean": float(m),
                "std": float(s),
            }
            for f, d, m, s in zip(features, defaults, mean, std)
        ],
        "feature_order": [f.name for f in features],
        "layout": asdict(InputLayout.of(features, settings.layout)),
        "labels": LABELS,
        "split_sizes": sizes,
        "zero_weight_jets": zero_weight,
        "degenerate_columns": degenerate,
        "weights": {
            "eta_edges": weights.eta_edges.tolist(),
            "pt_edges_gev": weights.pt_edges.tolist(),
            "training_histograms": weights.histograms.tolist(),
        },
        "settings": asdict(settings),
        "provenance": provenance or {},
    }
