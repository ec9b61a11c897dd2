"""The exact worst case of a ReLU tagger's log-odds over each jet's box: branch and bound.

A problem is one jet's box and one linear function of the logits to minimise
(``spec``: e_s - e_g for a signal jet of a discriminator, e_g - e_s for a
background jet). CROWN (:mod:`.bounds`) bounds it from below through linear
relaxations of the ReLUs that are unstable over the box; its gap to the
true minimum is what the relaxation of those neurons loses. Branch and bound
closes the gap: a domain is the box with some unstable neurons fixed to one
side (split: z >= 0, the ReLU is the identity; or z <= 0, it is 0), and

- each domain is bounded by CROWN with optimised slopes and Lagrange
  multipliers of its splits (alpha-CROWN, Xu et al. 2021; beta-CROWN, Wang
  et al. 2021), a few projected gradient steps per round, all domains of all
  problems batched; the bound is sound at every step, the best one is kept;
- the input the bound's linear function is lowest at is a point of the box:
  the network's value there is an upper bound of the minimum (an attack);
- a domain is branched on the unstable neuron whose relaxation costs its
  bound most (the upper chord's intercept times its coefficient, BaBSR-like);
- a domain with at most ``leaf_binaries`` unstable neurons left is solved
  exactly as a mixed-integer programme (big-M ReLUs on its bounds, HiGHS
  through SciPy), its splits as constraints;
- a domain whose bound is within ``tolerance`` of the problem's best value is
  closed. A problem is solved when no domain is open: its minimum then lies
  within ``tolerance`` of the best point found, which is where the minimum is.

Everything is float64 on the float32 network's weights, as in :mod:`.bounds`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.sparse
import torch
from scipy.optimize import Bounds, LinearConstraint, milp

from .bounds import _relaxation

#: the gap in log-odds below which a domain is closed: far below any difference between
#: two jets' log-odds that orders them, and above the float32 network's rounding (1e-6)
TOLERANCE = 1e-5
#: gradient steps of the slopes and multipliers per round, and at the root
ROUND_STEPS = 6
ROOT_STEPS = 30
#: Adam's step sizes of the lower slopes and of the multipliers (those of alpha-beta-CROWN)
ALPHA_RATE, BETA_RATE = 0.1, 0.05
#: the stored slopes and multipliers, only the next bound's starting point: any value gives a sound bound
STORED = torch.float32
#: most hidden neurons stored in all open domains together (9 bytes each: 400,000 domains of the paper's
#: 5 x 100 network, 1.8 GB); beyond, the highest-bound domains are closed as they are (their bounds stay in
#: their problems' bounds, they are no longer branched). Networks searched side by side share it.
MAX_OPEN_NEURONS = 200_000_000
#: most domains bounded in one round (all problems together)
ROUND_DOMAINS = 2048
#: most unstable neurons of a domain handed to the mixed-integer solver
LEAF_BINARIES = 6
#: what solving one leaf counts as in the budget: it takes about as long as bounding this many domains
LEAF_DOMAINS = 300
#: a safety limit on one leaf's mixed-integer programme, in seconds (a leaf of 6 binaries takes
#: milliseconds; were it ever reached, the leaf would keep HiGHS's dual bound and stay open)
LEAF_SECONDS = 60.0


@dataclass
class Problems:
    """P problems: minimise spec . logits(x) over lo <= x <= hi."""

    lo: torch.Tensor  #: (P, inputs) float64
    hi: torch.Tensor  #: (P, inputs) float64
    spec: torch.Tensor  #: (P, outputs) float64
    bounds: list[tuple[torch.Tensor, torch.Tensor]]  #: per hidden layer (lower, upper) of z, (P, width)


@dataclass
class _Domains:
    """Domains: the problem each belongs to, its splits, its optimised slopes and multipliers, its bound,
    and (once bounded) the neuron it would be branched on and how many unstable neurons it has left.
    """

    owner: torch.Tensor  #: (D,) long
    split: list[torch.Tensor]  #: per hidden layer (D, width) int8: +1 active, -1 inactive, 0 free
    alpha: list[torch.Tensor]  #: per hidden layer (D, width): lower slopes of unstable neurons
    beta: list[torch.Tensor]  #: per hidden layer (D, width): multipliers of the splits (>= 0)
    lower: torch.Tensor  #: (D,) the domain's best bound
    branch_layer: torch.Tensor  #: (D,) long
    branch_neuron: torch.Tensor  #: (D,) long
    unstable: torch.Tensor  #: (D,) long: unstable neurons left

    FIELDS = ("owner", "split", "alpha", "beta", "lower", "branch_layer", "branch_neuron", "unstable")

    def __len__(self) -> int:
        return len(self.owner)

    def take(self, index: torch.Tensor) -> _Domains:
        fields = (getattr(self, name) for name in self.FIELDS)
        return _Domains(*([x[index] for x in f] if isinstance(f, list) else f[index] for f in fields))

    @staticmethod
    def join(parts: list[_Domains]) -> _Domains:
        fields = []
        for name in _Domains.FIELDS:
            values = [getattr(p, name) for p in parts]
            fields.append([torch.cat(x) for x in zip(*values)] if isinstance(values[0], list) else torch.cat(values))
        return _Domains(*fields)


class _Store:
    """The open domains in buffers with free slots: branching a few domains copies only those."""

    def __init__(self, layers, problems: Problems) -> None:
        self.layers, self.problems = layers, problems
        self.domains = _empty(layers, problems)
        self.alive = torch.zeros(0, dtype=torch.bool)

    def __len__(self) -> int:
        return int(self.alive.sum())

    def indices(self) -> torch.Tensor:
        return self.alive.nonzero().squeeze(1)

    def pop(self, index: torch.Tensor) -> _Domains:
        self.alive[index] = False
        return self.domains.take(index)

    def add(self, domains: _Domains) -> None:
        free = (~self.alive).nonzero().squeeze(1)
        if len(free) < len(domains):
            grow = max(len(domains) - len(free), len(self.alive))
            self.domains = _Domains.join([self.domains, _empty(self.layers, self.problems, grow)])
            self.alive = torch.cat([self.alive, torch.zeros(grow, dtype=torch.bool)])
            free = (~self.alive).nonzero().squeeze(1)
        slots = free[: len(domains)]
        for name in _Domains.FIELDS:
            target, source = getattr(self.domains, name), getattr(domains, name)
            if isinstance(target, list):
                for t, v in zip(target, source):
                    t[slots] = v
            else:
                target[slots] = source
        self.alive[slots] = True


class BranchAndBound:
    """Branch and bound over the unstable ReLUs of many problems at once (see the module's docstring).

    Parameters
    ----------
    layers : the network's affine layers in float64 (:func:`.bounds.affine_layers`).
    problems : the boxes, specifications and CROWN's pre-activation bounds.
    point : a point of each problem's box known to be bad (an attack's), or None (the box's centre).
    leaf_binaries : most unstable neurons of a domain solved as a mixed-integer programme.
    networks : the networks searched side by side, which share ``MAX_OPEN_NEURONS`` (it caps the open domains).

    Attributes
    ----------
    lower : (P,) certified lower bounds of the minima.
    upper, point : (P,) the lowest value found and its point (an attack).
    root_lower : (P,) the bound before any branching (alpha-CROWN).
    """

    def __init__(
        self, layers, problems: Problems, point=None, leaf_binaries: int = LEAF_BINARIES, networks: int = 1
    ) -> None:
        self.layers, self.problems, self.leaf_binaries = layers, problems, leaf_binaries
        self.max_open = MAX_OPEN_NEURONS // networks // _neurons(layers)
        count = len(problems.lo)
        self.point = ((problems.lo + problems.hi) / 2 if point is None else point.double()).clone()
        self.upper = self.value(self.point, torch.arange(count))
        self.lower = torch.full((count,), -torch.inf, dtype=torch.float64)
        self.root_lower = self.lower.clone()
        self.open = _Store(layers, problems)
        self.closed_lower = torch.full((count,), torch.inf, dtype=torch.float64)  #: lowest bound of a closed domain
        self.domains_bounded = 0
        self.spent = torch.zeros(count, dtype=torch.long)  #: domains bounded per problem
        self.leaves_solved = 0
        self._started = False

    @torch.no_grad()
    def value(self, x: torch.Tensor, owner: torch.Tensor) -> torch.Tensor:
        """The value spec . logits(x) in float64, for points x (D, inputs) of the problems ``owner``."""
        a = x
        for weight, bias in self.layers[:-1]:
            a = (a @ weight.T + bias).clamp_(min=0)
        weight, bias = self.layers[-1]
        return ((a @ weight.T + bias) * self.problems.spec[owner]).sum(1)

    @property
    def solved(self) -> torch.Tensor:
        """(P,) bool: no domain of the problem open, its minimum within ``TOLERANCE`` of ``upper``."""
        return self.lower >= self.upper - TOLERANCE

    @property
    def searchable(self) -> torch.Tensor:
        """(P,) bool: the problem has an open domain left to branch (none: solved, or its domains closed
        where they stood to bound the memory).
        """
        alive = self.open.indices()
        return torch.zeros(len(self.upper), dtype=torch.bool).index_fill_(0, self.open.domains.owner[alive], True)

    def start(self, steps: int = ROOT_STEPS) -> None:
        """Bound every problem's whole box with optimised slopes (alpha-CROWN): the incomplete bound."""
        if self._started:
            return
        self._started = True
        count = len(self.problems.lo)
        root = _empty(self.layers, self.problems, count)
        root.owner = torch.arange(count)
        # CROWN's slopes to start from
        root.alpha = [(upper > -lower).to(STORED) for lower, upper in self.problems.bounds]
        self._bound(root, steps)
        self.root_lower = root.lower.clone()
        self._keep_open(root)

    def search(self, problems: torch.Tensor, domains: int, steps: int = ROUND_STEPS) -> None:
        """Branch the open domains of ``problems`` (indices), lowest bound first, until ``domains`` more
        domains are bounded (a budget of work, not of time: the result does not depend on the machine).

        A chosen domain with at most ``leaf_binaries`` unstable neurons is solved as a mixed-integer
        programme instead (counted as ``LEAF_DOMAINS`` domains); one HiGHS leaves unsolved is branched.
        """
        self.start()
        target = self.domains_bounded + domains
        wanted = torch.zeros(len(self.problems.lo), dtype=torch.bool)
        wanted[problems] = True
        while self.domains_bounded < target:
            chosen = self._choose(wanted)
            if chosen is None:
                return
            parents = self.open.pop(chosen)
            small = parents.unstable <= self.leaf_binaries
            leaves = parents.take(small.nonzero().squeeze(1))
            unsolved = self._solve_leaves(leaves)
            parents = _Domains.join([parents.take((~small).nonzero().squeeze(1)), leaves.take(unsolved)])
            self._keep_open(leaves.take((~unsolved).nonzero().squeeze(1)))  # closes them
            if len(parents):
                children = _children(parents)
                self._bound(children, steps)
                self._keep_open(children)

    def _choose(self, wanted: torch.Tensor) -> torch.Tensor | None:
        """The open domains to branch in this round: per wanted problem, its lowest-bound ones."""
        alive = self.open.indices()
        owner, lower = self.open.domains.owner, self.open.domains.lower
        candidates = alive[wanted[owner[alive]]]
        if candidates.numel() == 0:
            return None
        per_problem = max(1, ROUND_DOMAINS // 2 // len(owner[candidates].unique()))
        order = candidates[torch.argsort(lower[candidates])]
        order = order[torch.argsort(owner[order], stable=True)]  # by problem, each in bound order
        owners = owner[order]
        rank = torch.arange(len(order)) - torch.searchsorted(owners, owners)
        return order[rank < per_problem]

    def _bound(self, domains: _Domains, steps: int) -> None:
        """Optimise the domains' bounds and offer the points where they are lowest (in place)."""
        point = _optimise(self.layers, self.problems, domains, steps)
        self.domains_bounded += len(domains)
        self.spent.index_add_(0, domains.owner, torch.ones(len(domains), dtype=torch.long))
        self._offer(domains.owner, self.value(point, domains.owner), point)

    def _solve_leaves(self, leaves: _Domains) -> torch.Tensor:
        """Solve small domains exactly (their bounds raised in place, their points offered); which HiGHS did not."""
        unsolved = torch.zeros(len(leaves), dtype=torch.bool)
        for index in range(len(leaves)):
            lower, point, optimal = _solve_leaf(self.layers, self.problems, leaves, index)
            if point is not None:
                owner = leaves.owner[index : index + 1]
                self._offer(owner, self.value(point[None], owner), point[None])
            leaves.lower[index] = max(float(leaves.lower[index]), lower)
            unsolved[index] = not optimal
            self.leaves_solved += int(optimal)
            self.domains_bounded += LEAF_DOMAINS
        return unsolved

    def _keep_open(self, domains: _Domains) -> None:
        """Store the domains still open, close the others (the new best values may close stored ones),
        and update each problem's bound: the lowest of its open and closed domains' (at most its best value).
        """
        self._close(domains.owner, domains.lower, ~self._open_mask(domains))
        self.open.add(domains.take(self._open_mask(domains).nonzero().squeeze(1)))
        alive = self.open.indices()
        stored = self.open.domains
        closing = alive[stored.lower[alive] >= self.upper[stored.owner[alive]] - TOLERANCE]
        self._close(stored.owner[closing], stored.lower[closing], torch.ones(len(closing), dtype=torch.bool))
        self.open.alive[closing] = False
        alive = self.open.indices()
        if len(alive) > self.max_open:  # keep memory bounded: close the highest bounds where they stand
            frozen = alive[torch.argsort(stored.lower[alive], descending=True)[: len(alive) - self.max_open]]
            self._close(stored.owner[frozen], stored.lower[frozen], torch.ones(len(frozen), dtype=torch.bool))
            self.open.alive[frozen] = False
            alive = self.open.indices()
        lower = torch.minimum(self.closed_lower, self.upper)
        lower = lower.scatter_reduce(0, stored.owner[alive], stored.lower[alive], reduce="amin")
        self.lower = torch.maximum(lower, self.root_lower)

    def _close(self, owner: torch.Tensor, lower: torch.Tensor, closed: torch.Tensor) -> None:
        self.closed_lower.scatter_reduce_(0, owner[closed], lower[closed], reduce="amin")

    def _open_mask(self, domains: _Domains) -> torch.Tensor:
        return domains.lower < self.upper[domains.owner] - TOLERANCE

    def _offer(self, owner: torch.Tensor, values: torch.Tensor, points: torch.Tensor) -> None:
        """Keep, per problem, the lowest value found and its point."""
        best = torch.full_like(self.upper, torch.inf).scatter_reduce(0, owner, values, reduce="amin")
        better = (best < self.upper).nonzero().squeeze(1)
        for p in better.tolist():
            rows = (owner == p) & (values == best[p])
            self.upper[p], self.point[p] = best[p], points[rows.nonzero()[0, 0]]


def _neurons(layers) -> int:
    return sum(weight.shape[0] for weight, _ in layers[:-1])


def _empty(layers, problems: Problems, count: int = 0) -> _Domains:
    widths = [w.shape[0] for w, _ in layers[:-1]]
    long = torch.zeros(count, dtype=torch.long)
    return _Domains(
        long.clone(),
        [torch.zeros(count, w, dtype=torch.int8) for w in widths],
        [torch.zeros(count, w, dtype=STORED) for w in widths],
        [torch.zeros(count, w, dtype=STORED) for w in widths],
        torch.full((count,), -torch.inf, dtype=torch.float64),
        long.clone(),
        long.clone(),
        long.clone(),
    )


def _children(parents: _Domains) -> _Domains:
    """Two children per parent, split on its chosen neuron: first active, then inactive."""
    children = _Domains.join([parents, parents])
    rows = torch.arange(len(children))
    sign = torch.cat([torch.ones(len(parents)), -torch.ones(len(parents))]).to(torch.int8)
    children.split = [s.clone() for s in children.split]
    children.beta = [b.clone() for b in children.beta]
    for k in range(len(children.split)):
        here = children.branch_layer == k
        children.split[k][rows[here], children.branch_neuron[here]] = sign[here]
    return children


def _clipped_bounds(problems: Problems, domains: _Domains) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Each domain's pre-activation bounds: its problem's, with split neurons on their side of 0."""
    clipped = []
    for (lower, upper), split in zip(problems.bounds, domains.split):
        lower, upper = lower[domains.owner], upper[domains.owner]
        lower = torch.where(split > 0, lower.clamp(min=0), lower)
        clipped.append((lower, torch.where(split < 0, upper.clamp(max=0), upper)))
    return clipped


class _Relaxed(NamedTuple):
    """One hidden layer of a batch of domains, what the bound needs and does not optimise."""

    unstable: torch.Tensor  #: (D, width) bool
    active: torch.Tensor  #: (D, width) 1 where stable and active, else 0
    slope: torch.Tensor  #: the upper chord's slope (the identity's or 0 where stable)
    intercept: torch.Tensor  #: the upper chord's intercept (0 where stable)
    side: torch.Tensor  #: (D, width) +1 active split, -1 inactive split, 0 free (float64)


def _relaxed(problems: Problems, domains: _Domains) -> list[_Relaxed]:
    """Each hidden layer's upper chords (CROWN's, :func:`.bounds._relaxation`) on the domains' clipped bounds."""
    layers = []
    for (lower, upper), split in zip(_clipped_bounds(problems, domains), domains.split):
        chord = _relaxation(lower, upper)
        unstable = (lower < 0) & (upper > 0)
        layers.append(_Relaxed(unstable, (lower >= 0).double(), chord.slope, chord.intercept, split.double()))
    return layers


def _optimise(layers, problems: Problems, domains: _Domains, steps: int) -> torch.Tensor:
    """Raise each domain's bound by projected gradient ascent on its slopes and multipliers (in place).

    Sets ``lower`` (the best bound of the steps, never below the one it had), ``alpha`` and ``beta``,
    and the branching choice of the last step; returns the inputs where the best bounds' linear
    functions are lowest (points of the box).
    """
    relaxed = _relaxed(problems, domains)
    lo, hi = problems.lo[domains.owner], problems.hi[domains.owner]
    box = ((hi + lo) / 2, (hi - lo) / 2)
    spec = problems.spec[domains.owner]
    alpha = [a.double().requires_grad_(True) for a in domains.alpha]
    beta = [b.double().requires_grad_(True) for b in domains.beta]
    optimiser = torch.optim.Adam([{"params": alpha, "lr": ALPHA_RATE}, {"params": beta, "lr": BETA_RATE}])
    best = domains.lower.clone()
    best_point = box[0].clone()
    steps = max(steps, 1)
    for step in range(steps):
        last = step == steps - 1
        with torch.enable_grad():
            bound, coefficient, costs = _backward(layers, spec, relaxed, alpha, beta, box, costs=last)
        improved = bound.detach() > best
        best = torch.where(improved, bound.detach(), best)
        best_point = torch.where(improved[:, None], torch.where(coefficient > 0, lo, hi), best_point)
        if last:
            break
        optimiser.zero_grad()
        (-bound.sum()).backward()
        optimiser.step()
        with torch.no_grad():
            for a, b in zip(alpha, beta):
                a.clamp_(0, 1)
                b.clamp_(min=0)
    domains.lower = best
    domains.alpha = [a.detach().to(STORED) for a in alpha]
    domains.beta = [b.detach().to(STORED) for b in beta]
    _choose_neuron(domains, costs, [r.unstable for r in relaxed])
    return best_point


def _backward(layers, spec, relaxed: list[_Relaxed], alpha, beta, box, costs: bool):
    """CROWN's lower bound of spec . logits with the given slopes and multipliers, per domain.

    Returns the bound (D,), the input coefficient (D, inputs) of its linear function, and (where
    ``costs``) per hidden layer the cost of each unstable neuron's relaxation to the bound (detached).
    """
    weight, bias = layers[-1]
    coefficient = spec @ weight
    constant = spec @ bias
    cost = []
    for k in reversed(range(len(layers) - 1)):
        layer = relaxed[k]
        positive, negative = coefficient.clamp(min=0), coefficient.clamp(max=0)
        upper_part = negative * layer.intercept
        constant = constant + upper_part.sum(1)
        if costs:
            cost.append(-upper_part.detach())
        lower_slope = torch.where(layer.unstable, alpha[k], layer.active)
        # the splits' Lagrange terms: -beta s z, s = +1 for z >= 0, -1 for z <= 0
        coefficient = positive * lower_slope + negative * layer.slope - beta[k] * layer.side
        weight, bias = layers[k]
        constant = constant + coefficient @ bias
        coefficient = coefficient @ weight
    centre, radius = box
    bound = constant + (coefficient * centre).sum(1) - (coefficient.abs() * radius).sum(1)
    return bound, coefficient.detach(), cost[::-1]


def _choose_neuron(domains: _Domains, costs, unstable) -> None:
    """The neuron each domain is branched on: the unstable one whose relaxation costs the bound most
    (ties, such as all costs 0, broken by the width of its interval), and the unstable count.
    """
    scores = torch.cat([torch.where(u, c + 1e-12, -1.0) for c, u in zip(costs, unstable)], dim=1)
    best = scores.argmax(1)
    starts = torch.tensor([0, *(u.shape[1] for u in unstable)]).cumsum(0)  # the layers' widths may differ
    domains.branch_layer = torch.searchsorted(starts, best, right=True) - 1
    domains.branch_neuron = best - starts[domains.branch_layer]
    domains.unstable = sum(u.sum(1) for u in unstable)


def _solve_leaf(layers, problems: Problems, domains: _Domains, index: int):
    """A domain's exact minimum as a mixed-integer programme: (its lower bound, its minimising point,
    whether HiGHS proved it).

    The lower bound is the optimum where HiGHS proves it, else its dual bound (or -inf); the point
    is None where HiGHS finds none (the domain's splits may leave it empty: then the bound is +inf).
    """
    owner = int(domains.owner[index])
    one = domains.take(torch.tensor([index]))
    bounds = [(lower[0].numpy(), upper[0].numpy()) for lower, upper in _clipped_bounds(problems, one)]
    split = [s[0].numpy() for s in one.split]
    box = (problems.lo[owner].numpy(), problems.hi[owner].numpy())
    programme = _programme(layers, *box, bounds, split, problems.spec[owner].numpy())
    # without presolve: on these small programmes it costs more than it saves (0.10 s a leaf against 0.17 s)
    result = milp(**programme.arguments, options={"time_limit": LEAF_SECONDS, "presolve": False})
    if result.status == 2:  # infeasible: no input of the box has these splits
        return np.inf, None, True
    if result.status == 0:
        return float(result.fun + programme.constant), torch.from_numpy(programme.point(result.x)), True
    dual = getattr(result, "mip_dual_bound", None)
    lower = -np.inf if dual is None or not np.isfinite(dual) else float(dual + programme.constant)
    point = None if result.x is None else torch.from_numpy(programme.point(result.x))
    return lower, point, False


class _Programme:
    """A domain as a mixed-integer programme in SciPy's form, the constant of its objective and the inputs."""

    def __init__(self, arguments: dict, constant: float, lo: np.ndarray, moving: np.ndarray) -> None:
        self.arguments, self.constant, self.lo, self.moving = arguments, constant, lo, moving

    def point(self, solution: np.ndarray) -> np.ndarray:
        x = self.lo.copy()
        x[self.moving] = solution[: int(self.moving.sum())]
        return x


def _programme(layers, lo, hi, bounds, split, spec) -> _Programme:
    """The big-M programme of min spec . logits over the box, the ReLUs of unstable neurons as binaries.

    Variables: the moving inputs, then per hidden layer the post-activations of the neurons that are
    not inactive and a binary d per unstable one. An active neuron's a equals z (and a >= 0 by its
    bounds, which holds an active split); an inactive split adds z <= 0; an unstable neuron has
    a >= z, a <= z - l (1 - d), a <= u d. Stable neurons need no constraint: their side holds over the box.
    """
    moving = hi > lo
    n_inputs = int(moving.sum())
    lower_vars, upper_vars, integer = list(lo[moving]), list(hi[moving]), [0] * n_inputs
    rows, columns, values, row_lo, row_hi = [], [], [], [], []

    def add(cols, vals, low, high):
        rows.extend([len(row_lo)] * len(cols))
        columns.extend(cols)
        values.extend(vals)
        row_lo.append(low)
        row_hi.append(high)

    weight, bias = layers[0][0].numpy(), layers[0][1].numpy()
    weight, bias = weight[:, moving], bias + weight[:, ~moving] @ lo[~moving]
    previous, kept = np.arange(n_inputs), None
    for k, ((lower, upper), sides) in enumerate(zip(bounds, split)):
        if k > 0:
            weight, bias = layers[k][0].numpy()[:, kept], layers[k][1].numpy()
        index = np.full(len(lower), -1)
        for j in range(len(lower)):
            used = weight[j] != 0  # a deep set's unrolled layers are mostly zeros
            z_cols, z_vals = list(previous[used]), list(-weight[j][used])  # -W a_prev: the rows hold a - W a_prev
            if upper[j] <= 0:
                if sides[j] < 0:  # an inactive split: z <= 0
                    add(z_cols, list(weight[j][used]), -np.inf, -bias[j])
                continue
            a = len(lower_vars)
            index[j] = a
            lower_vars.append(max(lower[j], 0.0))
            upper_vars.append(upper[j])
            integer.append(0)
            if lower[j] >= 0:
                add([a, *z_cols], [1.0, *z_vals], bias[j], bias[j])
                continue
            d = len(lower_vars)
            lower_vars.append(0.0)
            upper_vars.append(1.0)
            integer.append(1)
            add([a, *z_cols], [1.0, *z_vals], bias[j], np.inf)
            add([a, *z_cols, d], [1.0, *z_vals, -lower[j]], -np.inf, bias[j] - lower[j])
            add([a, d], [1.0, -upper[j]], -np.inf, 0.0)
        kept = index >= 0
        previous = index[kept]
    weight, bias = layers[-1][0].numpy()[:, kept], layers[-1][1].numpy()
    objective = np.zeros(len(lower_vars))
    objective[previous] = spec @ weight
    matrix = scipy.sparse.csr_matrix((values, (rows, columns)), shape=(len(row_lo), len(lower_vars)))
    arguments = {
        "c": objective,
        "constraints": LinearConstraint(matrix, row_lo, row_hi),
        "integrality": np.array(integer),
        "bounds": Bounds(lower_vars, upper_vars),
    }
    return _Programme(arguments, float(spec @ bias), lo, moving)
