"""Training step throughput against the floor of its matrix products.

For the paper's network at batch 65536 (or --batch), in one run on one machine:
jets/s of a nominal and of an adversarial training step of robusttag's loop,
the time of the bare matrix products of each step (forward and backward GEMMs
of the same shapes: the floor) and the ratio step / floor.

    python benchmarks/train_throughput.py [--batch 65536] [--steps 5] [--device auto]
"""

from __future__ import annotations

import argparse
import time

import torch

from robusttag.model import ModelSettings, Tagger
from robusttag.training import TrainingSettings, backpropagate, choose_device


def _timed(function, steps: int, device: torch.device) -> float:
    """Seconds per call, after one warm-up call."""
    function()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        function()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def gemm_floor(shapes: list[tuple[int, int]], batch: int, device: torch.device, steps: int, adversarial: bool) -> float:
    """Seconds of the matrix products alone of one training step.

    Forward: x @ W^T per layer. Backward: the weight gradient of every layer
    and the input gradient of every layer but the first. Adversarial training
    adds the attack: one more forward, and input gradients through every
    layer (no weight gradients).
    """
    activations = [torch.randn(batch, n_in, device=device) for n_in, _ in shapes]
    weights = [torch.randn(n_out, n_in, device=device) for n_in, n_out in shapes]
    grads = [torch.randn(batch, n_out, device=device) for _, n_out in shapes]

    def products() -> None:
        passes = 2 if adversarial else 1
        for attack in range(passes):
            for a, w in zip(activations, weights):
                a @ w.T
            for layer, (a, w, g) in enumerate(zip(activations, weights, grads)):
                if not (adversarial and attack == 0):
                    g.T @ a  # weight gradient (training pass only)
                if layer > 0 or (adversarial and attack == 0):
                    g @ w  # input gradient (also into the inputs for the attack)

    return _timed(products, steps, device)


def step_time(mode: str, batch: int, device: torch.device, steps: int) -> float:
    settings = TrainingSettings(mode=mode)
    torch.manual_seed(0)
    model = Tagger(settings.model).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.randn(batch, settings.model.n_inputs, device=device)
    labels = torch.randint(0, 3, (batch,), device=device)
    weights = torch.rand(batch, device=device)
    movable = (torch.rand(batch, settings.model.n_inputs, device=device) > 0.3).float()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        backpropagate(model, x, labels, weights, movable, settings)
        optimizer.step()

    model.train()
    return _timed(step, steps, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=65536)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = choose_device(args.device)
    model = ModelSettings()
    widths = [model.n_inputs] + [model.width] * model.depth + [model.n_classes]
    shapes = list(zip(widths[:-1], widths[1:]))
    print(f"device {device}, {torch.get_num_threads()} threads, batch {args.batch}, torch {torch.__version__}")
    for mode in ("nominal", "adversarial"):
        step = step_time(mode, args.batch, device, args.steps)
        floor = gemm_floor(shapes, args.batch, device, args.steps, adversarial=mode == "adversarial")
        print(f"{mode:11s} step {step * 1e3:8.1f} ms = {args.batch / step:9.0f} jets/s | "
              f"GEMM floor {floor * 1e3:8.1f} ms | step/floor {step / floor:5.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
