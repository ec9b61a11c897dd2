"""The set every attack stays in: one box per test jet, and the projection onto it.

For input i of a jet with standardised value x_i (raw value r_i = x_i std_i + mean_i)
an attacked value x'_i must satisfy

- x'_i = x_i where the input may not move (an integer feature, or a default);
- |x'_i - x_i| <= eps * s_i, the budget (s_i = 1, or the per-feature scale of
  ``evaluation.epsilon_scale: quantile``);
- |x'_i - x_i| <= cap |r_i| / std_i, the raw-value cap of paper Eq. 3 (when set);
- x'_i >= f_i, the floor: the lowest standardised value whose raw value is not
  below the feature's default threshold, and which lies above the value a default
  takes; below it preprocessing would have turned the genuine value into a default.

Every constraint is a bound per input, so the set is a box [lo, hi] and the
projection is a clamp. The bounds are computed in float64 and rounded to float32
towards x, then checked in float64 once more (and nudged by one unit in the last
place where the check fails), so that a float32 point of the box satisfies every
inequality above evaluated in float64, to the last bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from ..errors import ConfigError
from ..features import default_column

#: jets per pass of the box's float64 arithmetic on a CPU (a GPU takes them all at once)
BOX_JETS = 256


@dataclass
class Constraints:
    """The per-feature constants of the box: scaling, floors, budget scale and cap.

    Attributes
    ----------
    mean, std : (features,) float32, as the preprocessing applied them.
    floor : (features,) float32: the lowest value a genuine input may be moved to.
    scale : (features,) float64: the budget of each input per unit of eps.
    cap : the raw-value cap as a fraction of the raw value; None: no cap.
    """

    mean: torch.Tensor
    std: torch.Tensor
    floor: torch.Tensor
    scale: torch.Tensor
    cap: float | None

    @classmethod
    def from_summary(
        cls, summary: dict, device: torch.device, cap: float | None, scale: torch.Tensor | None = None
    ) -> Constraints:
        """The constraints of the inputs of ``preprocessing.json``.

        Parameters
        ----------
        summary : the content of ``preprocessing.json`` (mean, std and default per feature).
        device : where the attacks run.
        cap : ``evaluation.restrict_impact``.
        scale : the per-feature budget scale (None: 1 for every input).

        Returns
        -------
        Constraints
        """
        columns = summary["features"]
        mean = torch.tensor([c["mean"] for c in columns], dtype=torch.float32, device=device)
        std = torch.tensor([c["std"] for c in columns], dtype=torch.float32, device=device)
        default = torch.tensor([c["default"] for c in columns], dtype=torch.float32, device=device)
        scale = torch.ones(len(columns), dtype=torch.float64, device=device) if scale is None else scale
        return cls(mean, std, genuine_floor(default, mean, std), scale.to(device, torch.float64), cap)

    def radius(self, x: torch.Tensor, eps: torch.Tensor | float | None) -> torch.Tensor:
        """The largest move of every input (float64): min(eps * s, cap |raw| / std).

        ``eps`` is a number, a (jets, 1) column (one eps per jet, as PGD
        stacks them), or None: no budget (the baselines, bounded by the cap only).
        """
        x64, std64 = x.double(), self.std.double()
        budget = torch.full_like(x64, torch.inf)
        if eps is not None:
            eps = eps.double() if isinstance(eps, torch.Tensor) else float(eps)
            budget = torch.add(budget.zero_(), self.scale * eps, out=budget)
        if self.cap is not None:
            budget = torch.minimum(budget, (x64 * std64 + self.mean.double()).abs_().mul_(self.cap).div_(std64))
        return budget

    def box(
        self, x: torch.Tensor, movable: torch.Tensor, eps: torch.Tensor | float | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(lo, hi), float32 like x: the attacked values allowed for every input.

        Immovable inputs have lo = hi = x. A genuine value already below its
        floor (it cannot be, but for rounding) may stay where it is: lo <= x always.
        ``eps`` as in :meth:`radius`.
        """
        lo, hi = torch.empty_like(x), torch.empty_like(x)
        per_jet = isinstance(eps, torch.Tensor) and eps.dim() > 0
        # On a CPU a few hundred jets at a time: the float64 temporaries stay in the
        # cache and are reused by the allocator instead of mapped afresh (8x faster on 60k jets).
        rows = BOX_JETS if x.device.type == "cpu" else max(len(x), 1)
        for start in range(0, len(x), rows):
            jets = slice(start, start + rows)
            lo[jets], hi[jets] = self._box_of(x[jets], movable[jets], eps[jets] if per_jet else eps)
        return lo, hi

    def _box_of(self, x: torch.Tensor, movable: torch.Tensor, eps) -> tuple[torch.Tensor, torch.Tensor]:
        x64 = x.double()
        radius = self.radius(x, eps)
        lo = _rounded_inwards(torch.minimum(torch.maximum(x64 - radius, self.floor.double()), x64), up=True)
        hi = _rounded_inwards(x64 + radius, up=False)
        # x - radius rounded in float64 may lie a hair beyond the radius: one ulp inwards where it does
        lo = torch.where(x64 - lo.double() > radius, torch.nextafter(lo, x), lo)
        hi = torch.where(hi.double() - x64 > radius, torch.nextafter(hi, x), hi)
        fixed = ~movable
        return torch.where(fixed, x, lo), torch.where(fixed, x, hi)

    def violations(self, x: torch.Tensor, attacked: torch.Tensor, movable: torch.Tensor, eps) -> dict[str, int]:
        """How many inputs break each bound, each checked in float64 from its definition.

        Returns
        -------
        dict[str, int]
            ``immovable_moved``, ``budget``, ``cap``, ``floor``: counts (all 0 for a valid attack).
        """
        x64, a64 = x.double(), attacked.double()
        step = (a64 - x64).abs()  # exact: two nearby float32 values
        moved = movable & (step > 0)
        counts = {"immovable_moved": int(((step > 0) & ~movable).sum())}
        if eps is not None:
            eps = eps.double() if isinstance(eps, torch.Tensor) else float(eps)
            counts["budget"] = int((moved & (step > self.scale * eps)).sum())
        else:
            counts["budget"] = 0
        if self.cap is not None:
            std64 = self.std.double()
            limit = (x64 * std64 + self.mean.double()).abs() * self.cap / std64
            counts["cap"] = int((moved & (step > limit)).sum())
        else:
            counts["cap"] = 0
        counts["floor"] = int((moved & (attacked < x) & (attacked < self.floor)).sum())
        return counts


def project(x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """The point of the box [lo, hi] nearest to x (in place on x): a clamp, exact."""
    return torch.minimum(torch.maximum(x, lo, out=x), hi, out=x)


def genuine_floor(default: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """The lowest float32 standardised value that preprocessing would keep genuine.

    Preprocessing marks a raw value r as a default when r < default, and then
    stores (default - mean) / std (float32 arithmetic) in its place. The floor
    f is the smallest float32 with f std + mean >= default in float64, moved
    above the stored default value so that the network can tell the two apart.
    """
    exact = (default.double() - mean.double()) / std.double()
    floor = _rounded_inwards(exact, up=True)
    below = floor.double() * std.double() + mean.double() < default.double()
    floor = torch.where(below, torch.nextafter(floor, torch.full_like(floor, torch.inf)), floor)
    stored = (default - mean) / std
    return torch.maximum(floor, torch.nextafter(stored, torch.full_like(stored, torch.inf)))


def _rounded_inwards(bound64: torch.Tensor, up: bool) -> torch.Tensor:
    """A float64 bound as float32, rounded into the interval it bounds: up for a lower bound, down for an upper one."""
    bound = bound64.float()
    outside = bound.double() < bound64 if up else bound.double() > bound64
    towards = torch.full_like(bound, torch.inf if up else -torch.inf)
    return torch.where(outside, torch.nextafter(bound, towards), bound)


#: training jets read for the quantile budget scale (the split is in random order: a random sample)
QUANTILE_JETS = 200_000


def quantile_scale(train_path, summary: dict, max_jets: int = QUANTILE_JETS) -> torch.Tensor:
    """Per-feature budget scale of ``epsilon_scale: quantile`` (float64, standardised units).

    Half the 1 %-99 % quantile range of each input's genuine training values,
    defaults set aside (the rule of the CMS b-hive framework). Computed on the
    first ``max_jets`` jets of the training split; an input without genuine
    values gets 0 (nothing of it moves anyway).
    """
    names = summary["feature_order"]
    parquet = pq.ParquetFile(train_path)
    tables, count = [], 0
    for group in range(parquet.num_row_groups):
        if count >= max_jets:
            break
        tables.append(parquet.read_row_group(group, columns=[*names, *(default_column(n) for n in names)]))
        count += tables[-1].num_rows
    table = pa.concat_tables(tables).slice(0, max_jets)
    scale = np.zeros(len(names))
    for i, name in enumerate(names):
        values = table.column(name).to_numpy()
        genuine = values[~table.column(default_column(name)).to_numpy(zero_copy_only=False)]
        if len(genuine):
            low, high = np.quantile(genuine.astype(np.float64), [0.01, 0.99])
            scale[i] = (high - low) / 2
    return torch.from_numpy(scale)


def budget_scale(kind: str, train_path, summary: dict, device: torch.device) -> torch.Tensor | None:
    """The budget scale of ``evaluation.epsilon_scale``: None for ``unit`` (1 for every input).

    Raises
    ------
    ConfigError
        For ``quantile`` without the training split, or an unknown kind.
    """
    if kind == "unit":
        return None
    if kind != "quantile":
        raise ConfigError(f"evaluation.epsilon_scale must be 'unit' or 'quantile', got '{kind}'")
    if train_path is None:
        raise ConfigError("evaluation.epsilon_scale: quantile needs the training split (train_path)")
    return quantile_scale(train_path, summary).to(device)
