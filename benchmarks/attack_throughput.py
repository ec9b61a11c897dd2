"""Strong-attack throughput: a PGD step against a bare input-gradient pass, and the suite per checkpoint.

    python benchmarks/attack_throughput.py [--jets 40000] [--batch 65536] [--rounds 5] [--device auto]

For the paper's network (random weights: the time does not depend on them) on
random standardised jets in the constraint box of the default settings:

- one PGD step on a batch (forward, input gradient, candidate bookkeeping, sign
  step, projection) against one bare input-gradient pass of the same batch
  (forward and backward to the inputs, nothing else): the ratio is what the
  attack adds to the gradient it cannot do without (goal <= 1.3);
- the whole default suite (``evaluation.attacks``) at every default eps on
  ``--jets`` jets, batched as the scoring job batches them: the cost of one
  strong-attack job of the default run (40 000 test jets).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from robusttag.attacks import Constraints
from robusttag.attacks.iterative import Target, _Worst
from robusttag.attacks.objectives import value_and_gradient
from robusttag.attacks.suite import Jets, run_attack, stacked_target
from robusttag.config import EvaluationSettings
from robusttag.data import choose_device
from robusttag.io import reuse_freed_memory
from robusttag.model import Tagger


def _seconds(function, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    function()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def _jets(n: int, device: torch.device, seed: int = 0) -> Jets:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 184, generator=g)
    return Jets(
        x.to(device),
        torch.randint(0, 3, (n,), generator=g).to(device),
        (torch.rand(n, 184, generator=g) > 0.3).to(device),
        torch.zeros(n, 184, dtype=torch.bool, device=device),
    )


def _constraints(device: torch.device, cap: float | None) -> Constraints:
    mean, std = torch.full((184,), 3.0, device=device), torch.ones(184, device=device)
    floor, scale = torch.full((184,), -1e30, device=device), torch.ones(184, dtype=torch.float64, device=device)
    return Constraints(mean, std, floor, scale, cap)


def step_against_pass(model, target: Target, device, rounds: int) -> tuple[float, float, float]:
    """Median seconds of a bare input-gradient pass, of a PGD step, and the median of their ratio."""
    step = target.budget * 0.25
    worst = _Worst(target.x, torch.zeros(len(target.x), device=device))
    x = target.x.clone()

    def bare() -> None:
        value_and_gradient(model, x, target.labels, "loss")

    def pgd_step() -> None:
        nonlocal x
        value, gradient = value_and_gradient(model, x, target.labels, "loss")
        worst.offer(x, value)
        x = torch.minimum(torch.maximum(x.add_(gradient.sign().mul_(step)), target.lo), target.hi)

    bare(), pgd_step()  # warm-up
    timings = [(_seconds(bare, device), _seconds(pgd_step, device)) for _ in range(rounds)]
    bares, steps = zip(*timings)
    return statistics.median(bares), statistics.median(steps), statistics.median(s / b for b, s in timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jets", type=int, default=40000, help="test jets of one suite job (the default run's)")
    parser.add_argument("--batch", type=int, default=65536, help="stacked jets per pass (evaluation.batch_size)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    reuse_freed_memory()
    device = choose_device(args.device)
    settings = EvaluationSettings()
    torch.manual_seed(0)
    model = Tagger().to(device).eval()
    constraints = _constraints(device, settings.restrict_impact)
    print(f"device {device}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    epsilons = tuple(settings.epsilons)
    jets = _jets(args.batch // len(epsilons), device)
    target, _ = stacked_target(jets, constraints, epsilons)
    bare, step, ratio = step_against_pass(model, target, device, args.rounds)
    print(
        f"PGD step on {len(target.x)} jets x eps: {step * 1e3:.1f} ms | bare input-gradient pass "
        f"{bare * 1e3:.1f} ms | step/pass {ratio:.2f}"
    )
    per_batch = max(1, args.batch // len(epsilons))
    total = 0.0
    for attack in settings.attacks:
        seconds = 0.0
        for start in range(0, args.jets, per_batch):
            part = _jets(min(per_batch, args.jets - start), device, seed=start)
            seconds += _seconds(lambda a=attack, p=part: run_attack(model, a, p, constraints, epsilons), device)
        total += seconds
        print(f"{attack.label:14s} {seconds:6.1f} s on {args.jets} jets x {len(epsilons)} eps")
    print(f"whole suite     {total:6.1f} s per checkpoint")


if __name__ == "__main__":
    main()
