"""A small default float training loop, for the zoo and the CLI (users bring their own).

Adam, cross-entropy, a fixed seed and one thread-count-independent order of
batches, so a run is reproducible on one machine.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def steps_per_epoch(n: int, batch_size: int) -> int:
    """The optimizer steps `fit` takes in one epoch of n samples."""
    full, rest = divmod(n, batch_size)
    return full + (1 if rest > 1 or (rest == 1 and full == 0) else 0)


def batches(x: torch.Tensor, y: torch.Tensor | None = None, size: int = 64, shuffle_seed: int | None = None):
    idx = np.arange(len(x))
    if shuffle_seed is not None:
        np.random.default_rng(shuffle_seed).shuffle(idx)
    for i in range(0, len(x), size):
        j = torch.from_numpy(idx[i:i + size])
        yield (x[j], y[j]) if y is not None else x[j]


def random_shift(x: torch.Tensor, generator: torch.Generator, pixels: int = 2) -> torch.Tensor:
    """Each NCHW image translated by a random (dy, dx) in [-pixels, pixels], zeros shifted in."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pixels, pixels, pixels, pixels))
    dy = torch.randint(0, 2 * pixels + 1, (n,), generator=generator).tolist()
    dx = torch.randint(0, 2 * pixels + 1, (n,), generator=generator).tolist()
    return torch.stack([padded[i, :, a:a + h, b:b + w] for i, (a, b) in enumerate(zip(dy, dx))])


def fit(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int = 10, lr: float = 1e-3,
        batch_size: int = 64, seed: int = 0, progress: bool = False, loss_fn=None, on_step=None,
        on_epoch=None, shift: int = 0) -> torch.nn.Module:
    """Train in place with Adam and a cosine schedule; returns the model in eval mode.

    loss_fn(logits, x, y) replaces cross-entropy (a Distiller, say); on_step() runs after every optimizer
    step (a pruning schedule) and on_epoch(epoch) after every epoch (freezing QAT statistics).
    shift > 0 augments each batch with random translations of up to that many pixels (seeded); the loss
    sees the shifted batch, so a Distiller's teacher labels the same view the student sees.
    A last batch of a single sample is skipped (batch norm cannot train on one) unless it is all of x;
    steps_per_epoch(len(x), batch_size) counts the steps.
    """
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, epochs))
    model.train()
    for epoch in tqdm(range(epochs), desc="training", unit="epoch", disable=not progress):
        for xb, yb in batches(x, y, batch_size, shuffle_seed=seed * 1000 + epoch):
            if len(xb) == 1 and len(x) > 1 and batch_size > 1:
                continue  # a last batch of one sample: batch norm cannot train on it
            if shift:
                xb = random_shift(xb, generator, shift)
            opt.zero_grad()
            logits = model(xb)
            loss = F.cross_entropy(logits, yb) if loss_fn is None else loss_fn(logits, xb, yb)
            loss.backward()
            opt.step()
            if on_step is not None:
                on_step()
        sched.step()
        if on_epoch is not None:
            on_epoch(epoch)
    return model.eval()


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    model.eval()
    return torch.cat([model(xb) for xb in batches(x, size=batch_size)])


def accuracy(logits, labels) -> float:
    """Top-1, as a fraction."""
    logits = torch.as_tensor(np.asarray(logits)) if not isinstance(logits, torch.Tensor) else logits
    return float((logits.argmax(-1) == torch.as_tensor(labels)).float().mean())


@torch.no_grad()
def reestimate_batch_norm(model: torch.nn.Module, inputs: torch.Tensor, batch_size: int = 64) -> torch.nn.Module:
    """Set every BatchNorm's running statistics from `inputs` (cumulative average), weights untouched.

    For untrained (seeded) architectures: it makes each normalized activation
    zero-mean, unit-variance on the input distribution, so the network's
    activations neither vanish nor explode and quantization sees realistic ranges.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.dropout._DropoutNd):
            m.eval()  # statistics of the inference-time activations
    for xb in batches(inputs, size=batch_size):
        model(xb)
    return model.eval()
