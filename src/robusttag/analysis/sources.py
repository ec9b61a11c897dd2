"""What a source's jets look like, flavour by flavour: the physics a reader checks before trusting a
generator (its flavour shares, track multiplicities, secondary-vertex rates, impact-parameter tails, vertex
masses), for the Pythia source beside the embedded generator and the facts the real dataset's documentation
gives (../shared/reference/jet-flavor-dataset.md: its shares, its pT range, 1 to 33 tracks per jet; its
distributions are not published).
"""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq

from ..features import FLAVOR, raw_track_column

#: The real dataset's documented facts (the reference note): flavour shares, the pT range observed, tracks per jet
REAL_SHARES = {"b": 0.393, "c": 0.120, "light": 0.487}
REAL_PT_RANGE_GEV = (22.9, 884.8)
REAL_TRACKS_RANGE = (1, 33)
#: The inputs compared (jet-level, raw units) besides the number of tracks
COMPARED = ("jet_pt", "track_2_d0_significance", "vertex_mass", "vertex_significance", "jet_prob")
FLAVOURS = {"b": 5, "c": 4, "light": 0}
#: A jet's second-largest |d0| significance beyond this counts in the tail
D0_TAIL = 3.0
STATISTICS_COLUMNS = (
    "source",
    "flavour",
    "jets",
    "share",
    "mean_tracks",
    "secondary_vertex_fraction",
    "track_2_d0_significance_above_3",
    "median_vertex_mass",
    "median_jet_pt",
)


def raw_jets(path) -> pd.DataFrame:
    """The jet-level columns of a raw jets table (``results/raw/jets.parquet``) and each jet's number of tracks."""
    table = pq.read_table(path, columns=[FLAVOR, *COMPARED, "n_secondary_vertices", raw_track_column("d0")])
    frame = table.drop_columns([raw_track_column("d0")]).to_pandas()
    frame["n_tracks"] = table.column(raw_track_column("d0")).combine_chunks().value_lengths().to_numpy()
    return frame


def batch_jets(batch) -> pd.DataFrame:
    """The same columns of a :class:`~robusttag.jets.JetBatch`."""
    frame = pd.DataFrame({name: batch.jets[name] for name in (FLAVOR, *COMPARED, "n_secondary_vertices")})
    frame["n_tracks"] = batch.n_tracks
    return frame


def flavour_statistics(jets: pd.DataFrame, source: str) -> pd.DataFrame:
    """Per flavour: jets, share, mean tracks, the fraction with a secondary vertex, the fraction whose second
    |d0| significance exceeds 3, the median vertex mass (jets with a vertex) and the median jet pT.
    """
    rows = []
    for name, code in FLAVOURS.items():
        own = jets[jets[FLAVOR] == code]
        with_vertex = own["n_secondary_vertices"] > 0
        rows.append(
            {
                "source": source,
                "flavour": name,
                "jets": len(own),
                "share": len(own) / max(len(jets), 1),
                "mean_tracks": own["n_tracks"].mean(),
                "secondary_vertex_fraction": with_vertex.mean(),
                "track_2_d0_significance_above_3": (own["track_2_d0_significance"] > D0_TAIL).mean(),
                "median_vertex_mass": own.loc[with_vertex, "vertex_mass"].median(),
                "median_jet_pt": own["jet_pt"].median(),
            }
        )
    return pd.DataFrame(rows, columns=list(STATISTICS_COLUMNS))


def documented_statistics() -> pd.DataFrame:
    """The real dataset's row of :func:`flavour_statistics`: its shares; what its documentation does not give, NaN."""
    rows = [
        {"source": "real dataset (documented)", "flavour": name, "share": share} for name, share in REAL_SHARES.items()
    ]
    return pd.DataFrame(rows, columns=list(STATISTICS_COLUMNS))
