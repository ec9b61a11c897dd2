"""What every figure shares: style, labels, saving, the layout check, table checks and selections, colours.

The style context, the experiment label, the legend above the panels, atomic
PNG + PDF saving after a check of the layout (:func:`layout_problems`: texts
that collide, or that the canvas cuts off, are reported as a
:class:`FigureLayoutWarning`), the input files, the checks and selections of
the results tables (and of the checkpoints Fig. 7 shows), the models' colours
and markers. The figure modules import from here, and only from here.

Every error raised here is a :class:`~robusttag.errors.ResultsError` naming
what was asked for and what the table holds.
"""

from __future__ import annotations

import contextlib
import math
import os
import uuid
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.legend import Legend
from matplotlib.text import Annotation, Text

from ..analysis.tables import reference_rows
from ..config import NOMINAL, ordered_models
from ..errors import ResultsError
from ..features import CLASS_NAMES
from ..metrics import DISCRIMINATORS

try:  # HEP styling is optional: plots still work (plainer) without mplhep
    import mplhep as _hep
except ImportError:  # pragma: no cover - mplhep is installed in the project venv
    _hep = None

#: Resolution of the PNGs written (the PDFs are vector graphics).
DPI = 150
_EXP = "robusttag"
_LLABEL = "Simulation"
_EXPERIMENT_LABEL = "experiment label"

#: The model of Figs. 5, 6 and 7.
_NOMINAL = NOMINAL


def studied_model(models) -> str:
    """The model Figs. 5, 6 and 7 show: the nominal one, or an audit's only model where there is none."""
    models = ordered_models(models)
    return _NOMINAL if _NOMINAL in models or not models else models[0]


#: Colour of each jet flavour (Fig. 10).
FLAVOUR_COLOURS: dict[str, str] = {"b": "#d62728", "c": "#2ca02c", "light": "#1f77b4"}
_MODEL_COLOURS: dict[str, str] = {"nominal": "#1f77b4", "adversarial": "#ff7f0e"}
_MODEL_MARKERS: dict[str, str] = {"nominal": "o", "adversarial": "s"}
#: Open markers for the nominal model, filled for the others (paper Fig. 9).
_MODEL_FILLED: dict[str, bool] = {"nominal": False, "adversarial": True}
#: Line style of each model's attacked curve (paper Fig. 8: dashed / dash-dotted).
MODEL_ATTACK_STYLE: dict[str, str] = {"nominal": "--", "adversarial": "-."}

#: The columns every figure drawn from the AUC table reads.
AUC_COLUMNS = ("model", "epoch", "attack", "attack_source", "epsilon", "discriminator", "auc")


# --------------------------------------------------------------------------
# Texts
# --------------------------------------------------------------------------


def epsilon_text(eps: float) -> str:
    """The attack size as a legend writes it, in mathtext: epsilon = 0.05."""
    return rf"$\epsilon = {eps:g}$"


def cap_text(restrict_impact: float | None) -> str:
    """Write the cap of the FGSM samples as a label: "cap 25 %" for 0.25, "no cap" for None."""
    if restrict_impact is None:
        return "no cap"
    return f"cap {float(restrict_impact) * 100:g} %"


def _flavour(label: int) -> str:
    """Flavour name of a training label (0 -> "b")."""
    return CLASS_NAMES[label]


def discriminator_flavours(discriminator: str) -> tuple[str, str]:
    """(signal, background) flavour names of a discriminator of :data:`robusttag.metrics.DISCRIMINATORS`."""
    signal, background = DISCRIMINATORS[discriminator]
    return _flavour(signal), _flavour(background)


# --------------------------------------------------------------------------
# Figure plumbing
# --------------------------------------------------------------------------


@contextlib.contextmanager
def figure_style():
    """Apply the HEP style (matplotlib's default without mplhep).

    A figure opened inside and left open by an error is closed on the way out.
    """
    before = set(plt.get_fignums())
    style = _hep.style.CMS if _hep is not None else "default"
    try:
        with plt.style.context(style):
            yield
    except BaseException:
        for num in set(plt.get_fignums()) - before:
            plt.close(num)
        raise


def experiment_label(ax, rlabel: str = "") -> None:
    """Neutral experiment label above the axes: "robusttag Simulation".

    Plain text (bold name, italic qualifier) rather than ``mplhep.label``: it
    claims no experiment's data, and avoids the extra draw passes mplhep uses
    to place its label pieces.
    """
    ax.text(
        0.0,
        1.005,
        rf"$\bf{{{_EXP}}}$ $\it{{{_LLABEL}}}$",
        transform=ax.transAxes,
        ha="left",
        va="bottom",
        fontsize="large",
        gid=_EXPERIMENT_LABEL,  # how the layout check names it
    )
    if rlabel:
        ax.text(
            1.0,
            1.005,
            rlabel,
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize="medium",
            gid=f"{_EXPERIMENT_LABEL} (right)",
        )


def legend_above_panels(fig, ax, title: str) -> None:
    """One legend above all panels, in one row, of the entries drawn on ``ax``.

    The figure must be laid out by constrained layout (``layout="constrained"``),
    which makes room for it: inside a panel a legend can cover the points and
    the texts.
    """
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=max(len(handles), 1), fontsize="small", title=title)
    # With the default padding (0.04 inch) the legend's last row touched the experiment labels below it.
    fig.get_layout_engine().set(h_pad=0.1)


def save_figure(fig, path: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``<path>.png`` and ``<path>.pdf`` atomically; always close ``fig``.

    The layout is checked first (:func:`layout_problems`): a
    :class:`FigureLayoutWarning` names the files and every text that runs into
    another, is covered by a legend or leaves the canvas. The files are
    written all the same.
    """
    base = Path(path)
    base.parent.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        problems = layout_problems(fig)
        if problems:
            listed = "".join(f"\n  - {problem}" for problem in problems)
            warnings.warn(
                f"figure {base}.png / .pdf: {len(problems)} layout problem(s) at {LAYOUT_DPI} dpi{listed}",
                FigureLayoutWarning,
                stacklevel=2,
            )
        for ext in ("png", "pdf"):
            final = base.parent / f"{base.name}.{ext}"
            # Same directory, so os.replace is atomic; a plain new file gets the usual permissions.
            tmp = base.parent / f".{base.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp.{ext}"
            try:
                # No creation date in the PDF, so identical inputs give identical files.
                metadata = {"CreationDate": None} if ext == "pdf" else None
                fig.savefig(tmp, format=ext, dpi=DPI, metadata=metadata)
                os.replace(tmp, final)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
            written.append(final)
    finally:
        plt.close(fig)
    return written[0], written[1]


# --------------------------------------------------------------------------
# Layout check
# --------------------------------------------------------------------------


class FigureLayoutWarning(UserWarning):
    """A figure saved with texts that overlap each other or a legend, or that leave the canvas."""


#: The resolution the layout check measures at: the PNGs' (a test may write coarser ones; the check does not follow).
LAYOUT_DPI = 150
#: How far, in points, a text may reach past the canvas edge, or two boxes into each other, before it counts.
_LAYOUT_TOLERANCE_PT = 0.5
#: The opacity from which a pixel counts as a text's ink (the faint edge of antialiasing does not).
_INK_ALPHA = 64


class _Placed:
    """A text as drawn: what it is, its box in display pixels, and the legend holding it (None outside one)."""

    def __init__(self, what: str, text: Text, box, legend: Legend | None = None):
        self.what, self.text, self.legend = what, text, legend
        self.low, self.high = np.array([box.x0, box.y0]), np.array([box.x1, box.y1])


def _quoted(text: str) -> str:
    text = " / ".join(line.strip() for line in text.strip().splitlines())
    return repr(text if len(text) <= 48 else text[:45] + "...")


def _axes_name(ax, index: int) -> str:
    if ax.get_label() == "<colorbar>":
        return f"colorbar (axes {index})"
    spec = ax.get_subplotspec()
    if spec is None:
        return f"axes {index}"

    def span(r: range) -> str:
        return f"{r.start + 1}" if len(r) == 1 else f"{r.start + 1}-{r.stop}"

    return f"axes {index} (row {span(spec.rowspan)}, column {span(spec.colspan)})"


def _text_box(text: Text, renderer):
    """The box of a drawn text in display pixels (its frame, for a text in a box); None when nothing is drawn:
    hidden, empty, or an annotation whose point lies outside its axes.
    """
    if not text.get_visible() or not text.get_text().strip():
        return None
    if isinstance(text, Annotation):
        whole = text.get_window_extent(renderer)
        if (whole.x0, whole.y0, whole.x1, whole.y1) == (0, 0, 1, 1):  # Bbox.unit(): the point is outside, not drawn
            return None
    patch = text.get_bbox_patch()
    if patch is not None and patch.get_visible():
        return patch.get_window_extent(renderer)
    return Text.get_window_extent(text, renderer)  # the text alone (an annotation's arrow left out)


def _drawn_ticks(axis) -> list:
    """The ticks an axis draws: those within its view interval (as matplotlib decides, in the scale's coordinates)."""
    scale = axis.get_transform()
    low, high = sorted(np.ravel(scale.transform(np.asarray(axis.get_view_interval(), dtype=float))))
    slack = 1e-10 * (high - low)
    ticks = []
    for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
        where = float(np.ravel(scale.transform(np.array([float(tick.get_loc())])))[0])
        if tick.get_visible() and low - slack <= where <= high + slack:
            ticks.append(tick)
    return ticks


def _axes_texts(ax, name: str) -> list[tuple[Text, str]]:
    """(text, what it is) for every text of one axes but its legends'."""
    out = []
    if ax.axison:
        for letter, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            if not axis.get_visible():
                continue
            prefix = "colorbar" if ax.get_label() == "<colorbar>" else letter
            out.append((axis.label, f"{prefix} label"))
            out.append((axis.get_offset_text(), f"{prefix} offset text"))
            for tick in _drawn_ticks(axis):
                out += [(tick.label1, f"{prefix} tick label"), (tick.label2, f"{prefix} tick label")]
    out += [(child, "title") for child in ax.get_children() if type(child) is Text and child not in ax.texts]
    for text in ax.texts:
        if text.get_gid():
            out.append((text, str(text.get_gid())))
        elif isinstance(text, Annotation):
            out.append((text, "annotation"))
        else:
            out.append((text, "text box" if text.get_bbox_patch() is not None else "text"))
    return [(text, f"{what} {_quoted(text.get_text())} of {name}") for text, what in out]


def _placed_texts(fig, renderer) -> tuple[list[_Placed], list[tuple[str, object, Legend]]]:
    """Every text the figure draws, and every legend: (its name, its box, itself)."""
    texts: list[_Placed] = []
    legends: list[tuple[str, object, Legend]] = []

    def add(text: Text, what: str, legend: Legend | None = None) -> None:
        box = _text_box(text, renderer)
        if box is not None:
            texts.append(_Placed(what, text, box, legend))

    def add_legend(legend: Legend, owner: str) -> None:
        if not legend.get_visible():
            return
        title = legend.get_title().get_text()
        name = f"legend{' ' + _quoted(title) if title.strip() else ''} of {owner}"
        add(legend.get_title(), f"legend title {_quoted(title)} ({name})", legend)
        for text in legend.get_texts():
            add(text, f"legend entry {_quoted(text.get_text())} ({name})", legend)
        frame = legend.get_frame()  # the frame where one is drawn, else the entries' own box
        box = frame.get_window_extent(renderer) if frame.get_visible() else legend.get_window_extent(renderer)
        legends.append((name, box, legend))

    for index, ax in enumerate(fig.axes, start=1):
        if not ax.get_visible():
            continue
        name = _axes_name(ax, index)
        for text, what in _axes_texts(ax, name):
            add(text, what)
        for legend in dict.fromkeys(c for c in ax.get_children() if isinstance(c, Legend)):
            add_legend(legend, name)
    for text in fig.texts:
        add(text, f"figure text {_quoted(text.get_text())}")
    for legend in fig.legends:
        add_legend(legend, "the figure")
    return texts, legends


class _Ink:
    """Where each text puts ink: drawn alone, once, on a transparent canvas the size of the figure's."""

    def __init__(self, width: float, height: float, dpi: float):
        self._size, self._dpi = (math.ceil(width), math.ceil(height)), dpi
        self._renderer = None
        self._masks: dict[int, tuple[int, int, np.ndarray]] = {}

    def of(self, placed: _Placed) -> tuple[int, int, np.ndarray]:
        """(left column, bottom row counted from below, mask of inked pixels, bottom row first) around a text."""
        key = id(placed)
        if key not in self._masks:
            if self._renderer is None:
                self._renderer = RendererAgg(*self._size, self._dpi)
            self._renderer.clear()
            placed.text.draw(self._renderer)
            alpha = np.asarray(self._renderer.buffer_rgba())[::-1, :, 3]  # row 0: the bottom, as display y
            x0, y0 = (max(int(math.floor(v)) - 1, 0) for v in placed.low)
            x1, y1 = (min(int(math.ceil(v)) + 1, n) for v, n in zip(placed.high, self._size))
            self._masks[key] = (x0, y0, alpha[y0 : max(y1, y0), x0 : max(x1, x0)] >= _INK_ALPHA)
        return self._masks[key]

    def within(self, placed: _Placed, low, high) -> np.ndarray:
        """The text's inked pixels (x, y) inside the box from ``low`` to ``high``."""
        x0, y0, mask = self.of(placed)
        ys, xs = np.nonzero(mask)
        xs, ys = xs + x0, ys + y0
        keep = (xs >= low[0]) & (xs < high[0]) & (ys >= low[1]) & (ys < high[1])
        return np.stack([xs[keep], ys[keep]], axis=1)

    def common(self, one: _Placed, other: _Placed) -> np.ndarray:
        """The pixels (x, y) both texts ink."""
        x0, y0, mask = self.of(one)
        u0, v0, other_mask = self.of(other)
        left, bottom = max(x0, u0), max(y0, v0)
        right, top = (
            min(x0 + mask.shape[1], u0 + other_mask.shape[1]),
            min(y0 + mask.shape[0], v0 + other_mask.shape[0]),
        )
        if right <= left or top <= bottom:
            return np.empty((0, 2), dtype=int)
        both = (
            mask[bottom - y0 : top - y0, left - x0 : right - x0]
            & other_mask[bottom - v0 : top - v0, left - u0 : right - u0]
        )
        ys, xs = np.nonzero(both)
        return np.stack([xs + left, ys + bottom], axis=1)


def _boxes_meet(low, high, other_low, other_high, tolerance: float) -> bool:
    return bool(np.all(np.minimum(high, other_high) - np.maximum(low, other_low) > tolerance))


def _spot(pixels: np.ndarray, points: float) -> str:
    """Where a set of pixels lies, and how large it is, in points from the figure's lower left corner."""
    low, high = pixels.min(axis=0) * points, (pixels.max(axis=0) + 1) * points
    (x, y), (w, h) = (low + high) / 2, high - low
    return f"over {w:.1f} x {h:.1f} pt at x = {x:.0f} pt, y = {y:.0f} pt"


def layout_problems(fig) -> list[str]:
    """Check a figure's layout as it is saved: the texts that collide, or that the canvas cuts off.

    The figure is drawn (without rasterising) at :data:`LAYOUT_DPI`, the
    resolution of the PNGs, whatever its own; then every visible, non-empty
    text it draws is placed: axis labels, tick labels (of the ticks drawn),
    offset texts, titles, texts and text boxes, annotations (where drawn), the
    experiment label, legend titles and entries, figure texts. Three things are
    problems:

    - a text's box reaching past an edge of the canvas by more than half a point;
    - two texts whose letters overlap: their boxes meet, and drawn alone each,
      they ink common pixels (so boxes that only share empty corners, as
      the first x and y tick labels of an axes do, are not flagged);
    - a legend's box (its frame, or its entries' box where no frame is drawn)
      over the letters of a text that is not its own, or over another legend.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure, laid out as it will be saved.

    Returns
    -------
    list of str
        One sentence per problem, naming the texts (what, their words, their
        axes) and where, in points from the lower left corner; empty when the
        layout is clean.
    """
    dpi = fig.get_dpi()
    fig.set_dpi(LAYOUT_DPI)
    try:
        fig.draw_without_rendering()
        renderer = fig.canvas.get_renderer() if hasattr(fig.canvas, "get_renderer") else None
        texts, legends = _placed_texts(fig, renderer)
        points = 72.0 / LAYOUT_DPI
        tolerance = _LAYOUT_TOLERANCE_PT / points
        width, height = fig.bbox.width, fig.bbox.height
        ink = _Ink(width, height, LAYOUT_DPI)
        problems = []
        for text in texts:
            beyond = {"left": -text.low[0], "right": text.high[0] - width}
            beyond |= {"bottom": -text.low[1], "top": text.high[1] - height}
            problems += [
                f"{text.what} leaves the canvas at the {edge} by {by * points:.1f} pt"
                for edge, by in beyond.items()
                if by > tolerance
            ]
        for i, one in enumerate(texts):
            for other in texts[i + 1 :]:
                if _boxes_meet(one.low, one.high, other.low, other.high, 0.0):
                    common = ink.common(one, other)
                    if len(common):
                        problems.append(f"{one.what} overlaps {other.what}: their letters meet {_spot(common, points)}")
        for i, (name, box, legend) in enumerate(legends):
            low, high = np.array([box.x0, box.y0]), np.array([box.x1, box.y1])
            for text in texts:
                if text.legend is not legend and _boxes_meet(low, high, text.low, text.high, 0.0):
                    covered = ink.within(text, low, high)
                    if len(covered):
                        problems.append(f"{name} covers {text.what} {_spot(covered, points)}")
            for other_name, other, _ in legends[i + 1 :]:
                other_low, other_high = np.array([other.x0, other.y0]), np.array([other.x1, other.y1])
                if _boxes_meet(low, high, other_low, other_high, tolerance):
                    spot = np.array([np.maximum(low, other_low), np.minimum(high, other_high) - 1])
                    problems.append(f"{name} overlaps {other_name} {_spot(spot, points)}")
    finally:
        fig.set_dpi(dpi)
    return problems


# --------------------------------------------------------------------------
# Input files of the pipeline
# --------------------------------------------------------------------------


def input_file(inputs: Sequence[str], suffix: str, what: str) -> str:
    """Pick the one input file ending in ``suffix``.

    Raises
    ------
    ResultsError
        When none, or more than one, of the inputs ends in ``suffix``.
    """
    found = [str(p) for p in inputs if str(p).endswith(suffix)]
    if len(found) != 1:
        raise ResultsError(f"expected one {what} ('*{suffix}') among the inputs, got {list(map(str, inputs))}")
    return found[0]


def read_auc_table(inputs: Sequence[str]) -> pd.DataFrame:
    """The AUC table, the reference seed's rows (the one studied at every checkpoint)."""
    return reference_rows(pd.read_csv(input_file(inputs, ".csv", "AUC table")))


def read_table(inputs: Sequence[str], name: str) -> pd.DataFrame:
    """The pipeline's table ``<name>.csv`` among the inputs, the reference seed's rows."""
    return reference_rows(pd.read_csv(input_file(inputs, f"{name}.csv", f"{name} table")))


# --------------------------------------------------------------------------
# Table checks and selections
# --------------------------------------------------------------------------


def require_columns(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Check that ``df`` is a table holding every one of ``columns``; ``what`` names it in the error.

    Raises
    ------
    ResultsError
        When ``df`` is not a DataFrame or lacks a column.
    """
    if not isinstance(df, pd.DataFrame):
        raise ResultsError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ResultsError(f"{what} lacks column(s) {missing}; it has {list(df.columns)}")


def epsilon_mask(series: pd.Series, eps: float) -> np.ndarray:
    """The rows whose epsilon is ``eps`` (up to rounding in the stored tables)."""
    return np.isclose(series.to_numpy(dtype=float), float(eps), rtol=1e-6, atol=1e-9)


def present_values(values: Iterable) -> list:
    """The distinct values of a column, sorted where they can be: what an error says the table holds."""
    vals = pd.unique(pd.Series(list(values)))
    try:
        return sorted(vals.tolist())
    except TypeError:
        return vals.tolist()


def as_bool(series: pd.Series) -> np.ndarray:
    """Read a flag column as booleans; missing values count as False."""
    return series.astype("boolean").fillna(False).to_numpy(dtype=bool)


def check_discriminators(discriminators: Sequence[str]) -> None:
    """Check that every name is a discriminator of :data:`robusttag.metrics.DISCRIMINATORS`.

    Raises
    ------
    ResultsError
        For an unknown name.
    """
    unknown = [d for d in discriminators if d not in DISCRIMINATORS]
    if unknown:
        raise ResultsError(f"unknown discriminator(s) {unknown}; choose from {list(DISCRIMINATORS)}")


def model_rows(df: pd.DataFrame, model: str, what: str) -> pd.DataFrame:
    """The rows of ``model``; ``what`` names the table in the error.

    Raises
    ------
    ResultsError
        When the table has no row for the model.
    """
    sub = df[df["model"] == model]
    if sub.empty:
        raise ResultsError(f"{what} has no rows for model '{model}'; models present: {present_values(df['model'])}")
    return sub


def discriminator_rows(auc: pd.DataFrame, discriminator: str) -> pd.DataFrame:
    """Select the rows of the AUC table for one (known) discriminator.

    Raises
    ------
    ResultsError
        When the discriminator is unknown or has no rows in the table.
    """
    check_discriminators([discriminator])
    table = auc[auc["discriminator"] == discriminator]
    if table.empty:
        raise ResultsError(
            f"auc table has no rows for discriminator '{discriminator}'; "
            f"present: {present_values(auc['discriminator'])}"
        )
    return table


def selected_checkpoint(auc: pd.DataFrame, model: str) -> int:
    """Find the checkpoint the AUC table flags as ``model``'s selected one.

    Raises
    ------
    ResultsError
        When the model is absent, or the table flags no or several selected epochs for it.
    """
    rows = model_rows(auc, model, "auc table")
    epochs = present_values(rows.loc[as_bool(rows["selected"]), "epoch"])
    if len(epochs) != 1:
        raise ResultsError(f"auc table must flag exactly one selected epoch for model '{model}', found {epochs}")
    return int(epochs[0])


def stored_auc(
    auc: pd.DataFrame | None,
    *,
    model: str,
    epoch: int,
    discriminator: str,
    attack: str,
    source: str | None = None,
    epsilon: float | None = None,
) -> float | None:
    """Look up the stored AUC of one curve; None when no AUC table / row is given."""
    if auc is None:
        return None
    sel = auc[(auc["model"] == model) & (auc["epoch"] == int(epoch))]
    sel = sel[(sel["discriminator"] == discriminator) & (sel["attack"] == attack)]
    if attack != "raw":
        sel = sel[sel["attack_source"] == (model if source is None else source)]
        if epsilon is not None:
            sel = sel[epsilon_mask(sel["epsilon"], epsilon)]
    if sel.empty:
        return None
    return float(sel["auc"].iloc[0])


def spread_checkpoints(epochs: Sequence[int], count: int, always: int) -> list[int]:
    """Checkpoints evenly spread in log(epoch), with one that must be among them.

    The tagger changes fastest early, so the picks are the epochs nearest to
    ``count`` points evenly spaced in log(epoch) from the first to the last.

    Parameters
    ----------
    epochs : sequence of int
        The checkpoints to choose from.
    count : int
        How many to choose (fewer when there are fewer epochs).
    always : int
        The epoch that is always among the picks (the selected checkpoint); it
        replaces the last pick when it is not one already.

    Returns
    -------
    list of int
        The picks, ascending.

    Raises
    ------
    ResultsError
        When ``epochs`` is empty.
    """
    if len(epochs) == 0:
        raise ResultsError(f"no checkpoint to choose from (the selected one is epoch {always})")
    epochs = np.array(sorted(set(epochs)))
    targets = np.geomspace(epochs[0], epochs[-1], min(count, len(epochs)))
    picks = {int(epochs[np.abs(np.log(epochs) - np.log(t)).argmin()]) for t in targets}
    if always not in picks:
        picks = set(sorted(picks)[: count - 1]) | {always}
    return sorted(picks)


# --------------------------------------------------------------------------
# Models and epsilons: colours, markers (the order: robusttag.config.ordered_models)
# --------------------------------------------------------------------------


def model_colour(model: str, index: int) -> str:
    """The colour of a model (nominal blue, adversarial orange); ``index``, its place in the order, for others."""
    return _MODEL_COLOURS.get(model, f"C{(index + 2) % 10}")


def model_marker(model: str, index: int) -> str:
    """The marker of a model (nominal circle, adversarial square); ``index`` picks one for others."""
    return _MODEL_MARKERS.get(model, "^D<>v"[index % 5])


def model_marker_filled(model: str) -> bool:
    """Whether a model's markers are filled: open for the nominal model, filled for the others (paper Fig. 9)."""
    return _MODEL_FILLED.get(model, True)


def epsilon_colours(epsilons: Sequence[float]) -> dict[float, tuple]:
    """One colour per attack size, dark to bright along the plasma map in the order given."""
    cmap = plt.get_cmap("plasma")
    n = len(epsilons)
    return {eps: cmap(0.05 + 0.75 * (i / max(n - 1, 1))) for i, eps in enumerate(epsilons)}
