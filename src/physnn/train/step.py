"""One training step and one epoch: estimate → optimizer → update transforms → commit.

:func:`train_step` is the whole pipeline of an update: the method's estimator fills the
gradients (querying the device as it must), the torch optimizer steps, the update transforms
(:mod:`physnn.train.transforms`) keep the latent controls admissible and within their slew, and
one :meth:`~physnn.nets.PNN.commit` projects them and writes them to the device, where the write
is counted as training. :func:`train_epoch` runs the steps of one shuffled pass over the
training set; :func:`evaluate` measures the accuracy on the device and on the twin.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from physnn.nets import PNN, Executor, run_device, run_twin
from physnn.progress import tqdm
from physnn.seeds import derived_seed
from physnn.train.setup import Experiment
from physnn.train.transforms import UpdateTransform


@torch.no_grad()
def accuracy(
    model: PNN,
    executor: Executor,
    predict: Callable[[Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    batch_size: int,
) -> float:
    """Fraction of correct argmax predictions of ``predict`` (class scores of a batch),
    evaluated in batches with the model's physical blocks run by ``executor``."""
    correct = 0
    with model.executing(executor):
        for start in range(0, len(x), batch_size):
            scores = predict(x[start : start + batch_size])
            correct += int((scores.argmax(-1) == y[start : start + batch_size]).sum())
    return correct / max(len(x), 1)


def evaluate(exp: Experiment, x: Tensor, y: Tensor) -> dict[str, float]:
    """Accuracy on the device (counted as evaluation, not training) and on the twin, of the
    method's inference (:meth:`~physnn.methods.base.GradientEstimator.predictor`)."""
    bs, model = exp.config.eval_batch_size, exp.model
    predict = exp.estimator.predictor(model)
    with exp.device.accounting("eval"), exp.meter.inference(len(x)):
        on_device = accuracy(model, run_device, predict, x, y, bs)
    if not model.physical_blocks():  # a digital network: device and twin are the same pass
        return {"device": on_device, "twin": on_device}
    return {"device": on_device, "twin": accuracy(model, run_twin, predict, x, y, bs)}


def apply_transforms(
    model: PNN, transform: UpdateTransform, before: list[dict[str, Tensor]]
) -> None:
    """Replace each physical block's latent controls, as the optimizer left them, by what
    ``transform`` keeps of the step from ``before`` (one dict per block)."""
    with torch.no_grad():
        for block, previous in zip(model.physical_blocks(), before, strict=True):
            proposed = {k: p.detach() for k, p in block.controls.items()}
            kept = transform(block.specs, previous, proposed)
            for k, p in block.controls.items():
                p.copy_(kept[k])


def train_step(
    exp: Experiment,
    optimizer: torch.optim.Optimizer,
    transform: UpdateTransform,
    x: Tensor,
    y: Tensor,
) -> tuple[Tensor, Tensor]:
    """One update on the batch (x, y): estimate → optimizer → update transforms → commit.

    Returns the method's (loss, logits) of the batch. Methods that never query the device
    during training (in-silico training) commit nothing here: the device receives their
    controls when the evaluation queries it.
    """
    model = exp.model
    before = [
        {k: p.detach().clone() for k, p in b.controls.items()} for b in model.physical_blocks()
    ]
    with exp.meter.step():  # the digital FLOPs of the step (the device's physics excluded)
        optimizer.zero_grad(set_to_none=True)
        loss, logits = exp.estimator.estimate(model, x, y, F.cross_entropy)
        optimizer.step()
        apply_transforms(model, transform, before)
        if exp.estimator.requirements.device_forward:
            model.commit()  # the device follows every update (counted as a training write)
    return loss, logits


@dataclass
class EpochProgress:
    """How far the current epoch has come (saved in mid-epoch checkpoints)."""

    step: int = 0  # batches done
    loss_sum: float = 0.0
    correct: int = 0


def train_epoch(
    exp: Experiment,
    optimizer: torch.optim.Optimizer,
    transform: UpdateTransform,
    epoch: int,
    state: EpochProgress,
    *,
    progress: bool,
    save: Callable[[EpochProgress], None],
    save_every: float,
    over_budget: Callable[[], str | None],
) -> dict[str, float]:
    """One pass over the training set from ``state.step``; ``save`` every ``save_every`` s.

    Stops early, after a whole step, once ``over_budget()`` names an exhausted budget.
    """
    cfg, data = exp.config, exp.dataset
    order = torch.randperm(
        len(data.x_train),
        generator=torch.Generator().manual_seed(derived_seed(cfg.seed, f"epoch{epoch}")),
    )
    num_batches = -(-len(order) // cfg.batch_size)
    if state.step == 0:  # not when resuming inside the epoch: the method's state was restored
        exp.estimator.start_epoch(epoch)
    bar = tqdm(
        range(state.step, num_batches),
        initial=state.step,
        total=num_batches,
        desc=f"epoch {epoch + 1}/{cfg.epochs}",
        disable=not progress,
        leave=False,
    )
    last_save = time.monotonic()
    for step in bar:
        idx = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
        x = data.x_train[idx].to(exp.torch_device)
        y = data.y_train[idx].to(exp.torch_device)
        loss, logits = train_step(exp, optimizer, transform, x, y)
        state.step += 1
        state.loss_sum += float(loss) * len(idx)
        state.correct += int((logits.argmax(-1) == y).sum())
        bar.set_postfix(loss=f"{float(loss):.3f}")
        if over_budget():
            break
        if state.step < num_batches and time.monotonic() - last_save >= save_every:
            save(state)
            last_save = time.monotonic()
    seen = max(1, min(state.step * cfg.batch_size, len(order)))
    return {"train_loss": state.loss_sum / seen, "train_accuracy": state.correct / seen}
