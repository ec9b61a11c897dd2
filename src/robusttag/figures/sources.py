"""The inputs of the Pythia source beside the embedded generator's and the real dataset's documented facts, per
flavour (the report's "Inputs by source" figure).
"""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..analysis.sources import COMPARED, FLAVOURS, REAL_PT_RANGE_GEV, REAL_TRACKS_RANGE
from ..features import FLAVOR, feature_label
from .base import FLAVOUR_COLOURS, experiment_label, figure_style, save_figure

#: Line style of each source's histograms
SOURCE_STYLES = {"Pythia 8": "-", "embedded generator": ":"}
#: Per input: the range drawn and whether its counts are drawn on a log scale
_RANGES = {
    "jet_pt": ((20.0, 900.0), True),
    "n_tracks": ((0.5, 33.5), False),
    "track_2_d0_significance": ((0.0, 40.0), True),
    "vertex_mass": ((0.0, 6.0), False),
    "vertex_significance": ((0.0, 100.0), True),
    "jet_prob": ((0.0, 1.0), True),
}


def inputs_by_source(sources: dict[str, pd.DataFrame], statistics: pd.DataFrame, path: str | os.PathLike) -> tuple:
    """Eight panels: the flavour shares of each source and of the real dataset, each jet's number of tracks and
    five inputs per flavour (normalised; the real dataset's documented pT range and track counts shaded), and the
    secondary-vertex fraction per flavour. ``sources``: {name: :func:`~robusttag.analysis.sources.raw_jets`}.
    """
    with figure_style():
        fig, axes = plt.subplots(2, 4, figsize=(22, 10), layout="constrained")
        _shares(axes[0, 0], statistics)
        for ax, name in zip(axes.flat[1:], ("n_tracks", *COMPARED)):
            _histograms(ax, sources, name)
        _vertex_fractions(axes[1, 3], statistics)
        for ax in axes.flat:
            experiment_label(ax)
        handles = [plt.Line2D([], [], color=colour, label=flavour) for flavour, colour in FLAVOUR_COLOURS.items()] + [
            plt.Line2D([], [], color="black", linestyle=style, label=source) for source, style in SOURCE_STYLES.items()
        ]
        fig.legend(handles=handles, loc="outside upper center", ncols=len(handles), fontsize="small")
        return save_figure(fig, path)


def _shares(ax, statistics: pd.DataFrame) -> None:
    sources = list(dict.fromkeys(statistics["source"]))
    width = 0.8 / len(sources)
    for i, source in enumerate(sources):
        rows = statistics[statistics["source"] == source].set_index("flavour")
        x = np.arange(len(FLAVOURS)) + (i - (len(sources) - 1) / 2) * width
        ax.bar(x, [rows.loc[f, "share"] for f in FLAVOURS], width, label=source, alpha=0.35 + 0.3 * i)
    ax.set_xticks(np.arange(len(FLAVOURS)), list(FLAVOURS))
    ax.set_ylabel("share of jets")
    ax.legend(fontsize="x-small", loc="upper left")


def _histograms(ax, sources: dict[str, pd.DataFrame], name: str) -> None:
    (low, high), log = _RANGES[name]
    integer = name == "n_tracks"
    edges = np.arange(low, high + 1) if integer else np.linspace(low, high, 41)
    for source, jets in sources.items():
        for flavour, code in FLAVOURS.items():
            values = jets.loc[jets[FLAVOR] == code, name].to_numpy(np.float64)
            values = values[np.isfinite(values) & (values >= low)]  # the dataset's defaults lie below the range
            if not len(values):
                continue
            counts, _ = np.histogram(np.clip(values, low, high), edges)
            ax.stairs(counts / counts.sum(), edges, color=FLAVOUR_COLOURS[flavour], linestyle=SOURCE_STYLES[source])
    documented = {"jet_pt": REAL_PT_RANGE_GEV, "n_tracks": REAL_TRACKS_RANGE}.get(name)
    if documented:
        ax.axvspan(*documented, color="grey", alpha=0.12, label="real dataset's range")
        ax.legend(fontsize="x-small", loc="upper right")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("tracks per jet" if integer else feature_label(name))
    ax.set_ylabel("fraction of jets")


def _vertex_fractions(ax, statistics: pd.DataFrame) -> None:
    measured = statistics.dropna(subset=["secondary_vertex_fraction"])
    sources = list(dict.fromkeys(measured["source"]))
    width = 0.8 / max(len(sources), 1)
    for i, source in enumerate(sources):
        rows = measured[measured["source"] == source].set_index("flavour")
        x = np.arange(len(FLAVOURS)) + (i - (len(sources) - 1) / 2) * width
        ax.bar(
            x, [rows.loc[f, "secondary_vertex_fraction"] for f in FLAVOURS], width, label=source, alpha=0.35 + 0.3 * i
        )
    ax.set_xticks(np.arange(len(FLAVOURS)), list(FLAVOURS))
    ax.set_ylabel("fraction with a vertex")
    ax.set_ylim(0, 1.15)
    ax.legend(fontsize="x-small", loc="upper right")


#: Jets of the embedded generator drawn beside the Pythia sample (at most)
EMBEDDED_JETS = 50_000


def write_inputs_by_source(raw: str | os.PathLike, seed: int, knobs: dict, figure: str | os.PathLike, table) -> None:
    """The figure and its table (``inputs_by_source.csv``: :func:`~robusttag.analysis.sources.flavour_statistics`
    of each source) for the Pythia sample in the raw jets table ``raw``, beside as many jets of the embedded
    generator (its seed and knobs of ``dataset.synthetic``; at most :data:`EMBEDDED_JETS`).
    """
    from ..analysis.sources import batch_jets, documented_statistics, flavour_statistics, raw_jets
    from ..config import Difficulty
    from ..io import atomic_output
    from ..sources.synthetic import generate

    pythia = raw_jets(raw)
    embedded = batch_jets(generate(min(len(pythia), EMBEDDED_JETS), seed, Difficulty.from_config(knobs)))
    sources = {"Pythia 8": pythia, "embedded generator": embedded}
    statistics = pd.concat(
        [*(flavour_statistics(jets, name) for name, jets in sources.items()), documented_statistics()],
        ignore_index=True,
    )
    with atomic_output(table) as tmp:
        statistics.to_csv(tmp, index=False, float_format="%.6g")
    inputs_by_source(sources, statistics, figure)
