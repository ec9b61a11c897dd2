"""The exact verification's bracket against its budget, on a trained DNN or deep set of a run.

    python benchmarks/exact_verification.py [--results results] [--mode nominal] [--seed 1]
        [--epsilon 0.05] [--jets 500] [--domains 2000000] [--every 100000]

On the first ``--jets`` test jets of the run (its preprocessing, cap and unit
budget scale, as the strong-attack job takes them) at ``--epsilon``, for the
selected checkpoint of ``results/models/{mode}/seed_{seed}``: CROWN's certified
AUC (a deep set's: IBP's) and the targeted attack's (20 steps, 3 restarts: the
verification's start), then the exact verification's certified and attack AUC
per discriminator and the bracket between them every ``--every`` domains
bounded, with the seconds spent, up to ``--domains``. A deep set's study:
``--results results/deepsets --preprocessed results/preprocessed_sequence``.
The goal of issue 27: a bracket of at most 0.01 AUC
for every discriminator in 10 minutes of two CPU cores.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from robusttag.attacks.bounds import bound_method, logit_difference_bounds
from robusttag.attacks.iterative import Target, pgd
from robusttag.attacks.worst_case import exact_worst_case, verifiable_networks
from robusttag.checkpoints import checkpoint_name, load_tagger
from robusttag.config import StrongAttackSettings
from robusttag.evaluate import load_test_set
from robusttag.history import selected_epoch
from robusttag.metrics import DISCRIMINATORS, auc
from robusttag.preprocess import read_summary
from robusttag.strong_attacks import EXACT_START_RESTARTS, EXACT_START_STEPS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results")
    parser.add_argument("--preprocessed", help="its preprocessed splits (default: RESULTS/preprocessed)")
    parser.add_argument("--mode", default="nominal")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--epsilon", type=float, default=0.05)
    parser.add_argument("--jets", type=int, default=500)
    parser.add_argument("--domains", type=int, default=2_000_000)
    parser.add_argument("--every", type=int, default=100_000)
    args = parser.parse_args()
    results = Path(args.results)
    model_dir = results / "models" / args.mode / f"seed_{args.seed}"
    epoch = selected_epoch(model_dir / "history.csv")
    cpu = torch.device("cpu")
    model = load_tagger(model_dir / checkpoint_name(epoch), cpu)
    preprocessed = Path(args.preprocessed) if args.preprocessed else results / "preprocessed"
    summary = read_summary(preprocessed / "preprocessing.json")
    settings = StrongAttackSettings()
    test = load_test_set(preprocessed / "test.parquet", summary, cpu, args.jets, settings.restrict_impact)
    x, labels = test.data.x, test.data.labels
    lo, hi = test.box(slice(0, args.jets), args.epsilon)
    print(
        f"{args.mode} seed {args.seed} epoch {epoch}, {len(x)} jets, eps {args.epsilon}, "
        f"{torch.get_num_threads()} threads"
    )
    method = bound_method(model, "crown")
    crown = logit_difference_bounds(model, lo, hi, DISCRIMINATORS, method)
    starts, attack_auc = {}, {}
    for name, (signal, background) in DISCRIMINATORS.items():
        target = Target(x, labels, lo, hi, torch.full_like(x, args.epsilon))
        starts[name] = pgd(model, target, name, steps=EXACT_START_STEPS, step_size=0.25, restarts=EXACT_START_RESTARTS)[
            0
        ]
        with torch.no_grad():
            logits = model(starts[name]).double()
        keep = (labels == signal) | (labels == background)
        log_odds = (logits[:, signal] - logits[:, background])[keep]
        is_signal = (labels == signal)[keep]
        lower, upper = crown[name]
        crown_auc = auc(torch.where(is_signal, lower[keep], upper[keep]).numpy(), is_signal.numpy())
        attack_auc[name] = auc(log_odds.numpy(), is_signal.numpy())
        print(
            f"{name}: {method.upper()} {crown_auc:.4f}  targeted attack {attack_auc[name]:.4f}  "
            f"bracket {attack_auc[name] - crown_auc:.4f}"
        )
    start = time.perf_counter()
    next_report = [0]

    def report(domains: int, cases) -> None:
        if domains < next_report[0]:
            return
        next_report[0] = domains + args.every
        parts = []
        for name, case in cases.items():
            certified, attained = auc(case.certified, case.is_signal), auc(case.attained, case.is_signal)
            parts.append(
                f"{name} {certified:.4f}-{attained:.4f} ({attained - certified:.4f}, {int(case.solved.sum())} solved)"
            )
        print(f"{domains:>9,} domains {time.perf_counter() - start:7.1f} s  " + "  ".join(parts), flush=True)

    networks = verifiable_networks(model, lo, hi)
    if networks is None:
        raise SystemExit(f"{type(model).__name__} is not piecewise linear: no exact verification")
    print(f"{len(networks)} networks, {max(sum(w.shape[0] for w, _ in n[:-1]) for n, _ in networks)} neurons at most")
    box = (lo.double(), hi.double())
    cases = exact_worst_case(networks, *box, labels.numpy(), DISCRIMINATORS, args.domains, starts, after_slice=report)
    next_report[0] = 0
    report(args.domains, cases)


if __name__ == "__main__":
    main()
