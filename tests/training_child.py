"""The child of tests/killed_training.py: a training script in a process of its own, forked from the server of
tests/snakemake_process.py, which imports this module once, and with it torch, robusttag's training and the
parts of torch its optimiser loads on first use (about 6 s of CPU that each process would otherwise spend)."""

import os
import signal
import sys

import torch._dynamo  # noqa: F401  (the optimiser imports it on its first step)

import robusttag.training.loop as loop


def main(script: str, args: list[str], kill_after_epoch: int | None = None) -> None:
    """Run ``script`` as ``python -c script *args`` would (an uncaught error exits with status 1); with
    ``kill_after_epoch``, the process kills itself with SIGKILL as soon as that epoch's checkpoint is written:
    the interruption at the same point of every run, however busy the machine."""
    if kill_after_epoch:
        save = loop.save_checkpoint

        def save_then_die(path, model, optimizer, epoch, *rest, **named):
            save(path, model, optimizer, epoch, *rest, **named)
            if epoch == kill_after_epoch:
                os.kill(os.getpid(), signal.SIGKILL)

        loop.save_checkpoint = save_then_die
    sys.argv = ["-c", *args]
    exec(compile(script, "<training script>", "exec"), {"__name__": "__main__"})
