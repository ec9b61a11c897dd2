"""Training step throughput against the floor of its matrix products.

For the paper's network at batch 65536 (or --batch), in one run on one machine:
jets/s of a training step of robusttag's loop in each mode (nominal; FGSM, PGD, NGM;
the defences against mismodelling: augmented, domain, paired), the time of the bare
matrix products of each step (forward and backward GEMMs of the same shapes: the
floor), the ratio step / floor, and the ratio of each mode's step to the nominal step.

The defences run on random jets too: two variations of the split (augmented, paired)
or a target of half its size (domain). Their floor: ``paired`` passes two batches through
the network and back (the varied jets too), ``domain`` one and its target jets
(``training.domain.target_fraction`` of a batch), ``augmented`` one; the domain
classifier's products are left out of the floor.

    python benchmarks/train_throughput.py [--batch 65536] [--rounds 7] [--device auto] [--layer-by-layer]
    python benchmarks/train_throughput.py --architecture deepsets|transformer [--tracks 16] [--batch 4096]

The set-based taggers run on random jets of the sequence layout (``--tracks`` slots, about 5 tracks
per jet present, as in the embedded default). Their floor is every product of their layers: the
per-track layers on all jets x slots rows (padding included, as the model computes it), the head on
the jets, and for the transformer the attention's two batched products per head.

Each mode is timed twice: the step alone (forward, backward, optimiser), and
the step with the gathering of its batch from the split, as the training
loop runs it. The step and its floor alternate round after round, and the medians are
printed, so that a shared machine's changing load affects both alike.
``--layer-by-layer`` times the network one autograd node per layer, as it
runs off the CPU, instead of the CPU's blocked pass (the same numbers), and
its floor with every product over the whole batch.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable

import torch

from robusttag.architectures import build_model
from robusttag.config import (
    ARCHITECTURES,
    DNN,
    MISMODELLING_MODES,
    MODES,
    NOMINAL,
    ModelSettings,
    TrainingSettings,
    Variation,
)
from robusttag.data import Split, choose_device
from robusttag.features import InputLayout
from robusttag.io import reuse_freed_memory
from robusttag.model import CPU_BLOCK_ROWS, Tagger
from robusttag.training import attack_box, backpropagate
from robusttag.training.mismodelling import Augmented, Domain, Paired, final_layer


def _timed(function, steps: int, device: torch.device) -> float:
    """Seconds per call, averaged over ``steps`` calls."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        function()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def gemm_floor(
    shapes: list[tuple[int, int]],
    batch: int,
    device: torch.device,
    attack_passes: int,
    block: int | None,
    training_shares: tuple[float, ...] = (1.0,),
) -> Callable[[], None]:
    """Seconds of the matrix products alone of one training step.

    Forward: x @ W^T per layer. Backward: the weight gradient of every layer
    and the input gradient of every layer but the first. Adversarial training
    adds the attack, ``attack_passes`` times (FGSM 1, PGD and NGM a pass per
    step): one more forward, and input gradients through every layer (no
    weight gradients). With ``block``, the forward and
    input-gradient products run a block of rows at a time through every
    layer, as the CPU's blocked pass runs them (faster than over the whole
    batch: each block's activations stay in cache), and the weight gradients
    over the whole batch, as it does too. One batch per ``training_shares`` goes
    through the whole step, that share of the rows (a defence's second batch: its weight gradients too).
    """
    activations = [torch.randn(batch, n_in, device=device) for n_in, _ in shapes]
    weights = [torch.randn(n_out, n_in, device=device) for n_in, n_out in shapes]
    grads = [torch.randn(batch, n_out, device=device) for _, n_out in shapes]
    outputs = [torch.empty(batch, n_out, device=device) for _, n_out in shapes]
    input_grads = [torch.empty(batch, n_in, device=device) for n_in, _ in shapes]

    def blocks(n: int) -> list[slice]:
        return [slice(start, min(start + block, n)) for start in range(0, n, block)] if block else [slice(0, n)]

    passes = [(True, batch)] * attack_passes + [(False, round(share * batch)) for share in training_shares]

    def products() -> None:
        for into_inputs, n in passes:  # the attack: input gradients down to the inputs
            for rows in blocks(n):
                for a, w, out in zip(activations, weights, outputs):
                    torch.mm(a[rows], w.T, out=out[rows])
                for layer in reversed(range(len(shapes))):
                    if layer > 0 or into_inputs:
                        torch.mm(grads[layer][rows], weights[layer], out=input_grads[layer][rows])
            if not into_inputs:
                for a, g in zip(activations, grads):
                    g[:n].T @ a[:n]  # weight gradient (training pass only)

    return products


def set_model_floor(
    model: ModelSettings,
    batch: int,
    device: torch.device,
    attack_passes: int,
    training_shares: tuple[float, ...] = (1.0,),
) -> Callable[[], None]:
    """Seconds of the matrix products alone of one training step of a set-based tagger.

    Dense products (rows, in, out): forward, input gradient (also into the inputs for the attack)
    and, in the training pass, the weight gradient. Batched products of attention (count, m, k, p):
    forward and both gradients.
    """
    layout, tracks = model.layout, batch * model.layout.n_tracks
    fields = layout.n_track_fields - 1
    if model.architecture == "deepsets":
        shape = model.deepsets
        widths = [fields] + [shape.track_width] * shape.track_depth
        dense = [(tracks, a, b) for a, b in zip(widths[:-1], widths[1:])]
        head_in = layout.n_jet_features + 2 * shape.track_width
        batched = []
    else:
        shape = model.transformer
        tokens = batch * (layout.n_tracks + 1)
        dense = [(tracks, fields, shape.dim)]
        for _ in range(shape.blocks):
            dense += [(tokens, shape.dim, 3 * shape.dim), (tokens, shape.dim, shape.dim)]
            dense += [(tokens, shape.dim, 2 * shape.dim), (tokens, 2 * shape.dim, shape.dim)]
        length, head_dim = layout.n_tracks + 1, shape.dim // shape.heads
        batched = [(batch * shape.heads, length, head_dim, length), (batch * shape.heads, length, length, head_dim)]
        batched *= shape.blocks
        head_in = layout.n_jet_features + shape.dim
    widths = [head_in] + [shape.width] * shape.depth + [model.n_classes]
    dense += [(batch, a, b) for a, b in zip(widths[:-1], widths[1:])]
    tensors = [
        (torch.randn(r, a, device=device), torch.randn(b, a, device=device), torch.randn(r, b, device=device))
        for r, a, b in dense
    ]
    pairs = [
        (torch.randn(c, m, k, device=device), torch.randn(c, k, p, device=device), torch.randn(c, m, p, device=device))
        for c, m, k, p in batched
    ]

    passes = [(True, 1.0)] * attack_passes + [(False, share) for share in training_shares]

    def products() -> None:
        for attack, share in passes:
            for x, w, g in tensors:
                x, g = x[: round(share * len(x))], g[: round(share * len(g))]
                x @ w.T
                g @ w
                if not attack:
                    g.T @ x
            for a, b, g in pairs:
                n = round(share * len(a))
                a[:n] @ b[:n]
                g[:n] @ b[:n].transpose(1, 2)
                a[:n].transpose(1, 2) @ g[:n]

    return products


def sequence_jets(layout: InputLayout, n: int, device: torch.device) -> torch.Tensor:
    """Random rows of the sequence layout with about 5 present tracks per jet (padding zero)."""
    x = torch.randn(n, layout.n_inputs, device=device)
    blocks = x[:, layout.n_jet_features :].view(n, layout.n_tracks, layout.n_track_fields)
    present = (torch.arange(layout.n_tracks, device=device) < torch.randint(1, 10, (n, 1), device=device)).float()
    blocks[..., -1] = present
    blocks[..., :-1] *= present[..., None]
    return x


def attack_passes(settings: TrainingSettings) -> int:
    """Input-gradient passes of a mode's attack per training step (PGD and NGM: one per step)."""
    return {"adversarial": 1, "pgd": settings.pgd_steps, "ngm": settings.ngm_steps}.get(settings.mode, 0)


def training_shares(mode: str, settings: TrainingSettings) -> tuple[float, ...]:
    """Batches a mode passes through the network and back per step, each as a share of the training batch
    (paired: the varied jets; domain: the target jets)."""
    second = {"paired": (1.0,), "domain": (settings.domain_target_fraction,)}.get(mode, ())
    return (1.0, *second)


def defence_of(mode: str, split: Split, settings: TrainingSettings, model) -> object | None:
    """A defence against mismodelling on random jets: two variations of the split, or a target of half its size."""
    if mode not in MISMODELLING_MODES:
        return None
    if mode == "domain":
        return Domain(len(split), split.x[: len(split) // 2] + 0.1, final_layer(model).in_features, settings)
    varied = [Split(split.x + 0.1 * (k + 1), split.labels, split.weights) for k in range(2)]
    return (Augmented if mode == "augmented" else Paired)(split, varied, settings)


def training_step(
    mode: str, batch: int, device: torch.device, gather: bool, shape: ModelSettings
) -> Callable[[], None]:
    """One optimiser step of robusttag's loop on random jets; with ``gather``,
    the batch is first gathered from a split of 4 batches by a permutation, as
    the training loop does every step."""
    variations = (Variation("a", scale={"resolution_scale": 1.1}), Variation("b", scale={"resolution_scale": 0.9}))
    target = {"name": "target"} if mode == "domain" else None
    settings = TrainingSettings(mode=mode, model=shape, variations=variations, domain_target=target)
    torch.manual_seed(0)
    model = build_model(settings.model).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    n = 4 * batch if gather else batch
    inputs = (
        torch.randn(n, shape.n_inputs, device=device)
        if shape.architecture == DNN
        else sequence_jets(shape.layout, n, device)
    )
    split = Split(
        x=inputs,
        labels=torch.randint(0, 3, (n,), device=device),
        weights=torch.rand(n, device=device),
        movable=(torch.rand(n, settings.model.n_inputs, device=device) > 0.3) if settings.attacks else None,
    )
    if mode in ("pgd", "ngm"):  # the box of every jet, as training holds it (standardised: mean 0, std 1)
        features = [{"mean": 0.0, "std": 1.0, "default": -5.0}] * settings.model.n_inputs
        split = attack_box(split, {"features": features}, settings)
    order = torch.randperm(n, device=device)
    starts = itertools.cycle(range(0, n, batch))
    defence = defence_of(mode, split, settings, model)
    draws = defence.epoch_draws(0, device) if defence else None
    own_optimizer = getattr(defence, "optimizer", None)

    def step() -> None:
        start = next(starts)
        index = order[start : start + batch] if gather else torch.arange(batch, device=device)
        data = split.rows(index) if gather else split
        optimizer.zero_grad(set_to_none=True)
        if defence is None:
            backpropagate(model, data.x, data.labels, data.weights, data.movable, settings, data.box)
        else:
            if own_optimizer is not None:
                own_optimizer.zero_grad(set_to_none=True)
            defence.backpropagate(model, data, index, draws[index], 0.5)
            if own_optimizer is not None:
                own_optimizer.step()
        optimizer.step()

    model.train()
    return step


def step_and_floor(
    mode: str, gather: bool, model: ModelSettings, batch: int, device: torch.device, steps: int, rounds: int, block
) -> tuple[float, float, float]:
    """Median step time, median floor time and median ratio of the two.

    Step and floor alternate, round after round, so that both see the same
    state of a shared machine; each round's ratio compares neighbours in time.
    """
    step = training_step(mode, batch, device, gather, model)
    settings = TrainingSettings(mode=mode, domain_target={"name": "target"})
    passes, shares = attack_passes(settings), training_shares(mode, settings)
    if model.architecture == DNN:
        widths = [model.n_inputs] + [model.width] * model.depth + [model.n_classes]
        shapes = list(zip(widths[:-1], widths[1:]))
        floor = gemm_floor(shapes, batch, device, passes, block=block, training_shares=shares)
    else:
        floor = set_model_floor(model, batch, device, passes, shares)
    step(), floor()  # warm-up: allocator, thread pool, caches
    timings = [(_timed(step, steps, device), _timed(floor, steps, device)) for _ in range(rounds)]
    steps_s, floors_s = zip(*timings)
    return statistics.median(steps_s), statistics.median(floors_s), statistics.median(s / f for s, f in timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=65536)
    parser.add_argument("--steps", type=int, default=3, help="steps per timing")
    parser.add_argument("--rounds", type=int, default=7, help="alternating step/floor timings; medians are printed")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--layer-by-layer", action="store_true", help="without the CPU's blocked pass")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--architecture", default=DNN, choices=ARCHITECTURES)
    parser.add_argument("--tracks", type=int, default=16, help="track slots of the sequence layout")
    args = parser.parse_args()
    if args.layer_by_layer:
        Tagger.forward = Tagger.layer_by_layer
    if args.threads:
        torch.set_num_threads(args.threads)
    reuse_freed_memory()  # as training does
    device = choose_device(args.device)
    model = ModelSettings(architecture=args.architecture)
    if args.architecture != DNN:
        layout = InputLayout("sequence", 16 + args.tracks * 29, 16, args.tracks, 29)
        model = ModelSettings(architecture=args.architecture, n_inputs=layout.n_inputs, layout=layout)
    block = None if args.layer_by_layer or device.type != "cpu" or args.architecture != DNN else CPU_BLOCK_ROWS
    path = f"blocks of {block} rows" if block else "layer by layer"
    print(
        f"{args.architecture}: device {device}, {torch.get_num_threads()} threads, batch {args.batch}, "
        f"torch {torch.__version__}, {path}"
    )
    nominal = {}
    for mode, gather in itertools.product(args.modes, (False, True)):
        step, floor, ratio = step_and_floor(mode, gather, model, args.batch, device, args.steps, args.rounds, block)
        nominal.setdefault(gather, step if mode == NOMINAL else None)
        versus = f" | step/nominal {step / nominal[gather]:5.2f}" if nominal[gather] else ""
        label = f"{mode} {'+ batch gather' if gather else 'step'}"
        print(
            f"{label:27s} {step * 1e3:7.1f} ms = {args.batch / step:7.0f} jets/s | "
            f"GEMM floor {floor * 1e3:6.1f} ms | step/floor {ratio:5.2f}{versus}"
        )


if __name__ == "__main__":
    main()
