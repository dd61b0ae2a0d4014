"""The model zoo: `zoo:NAME` in the CLI, `zoo.load(NAME)` in Python.

  lenet300          LeNet-300-100 (Han et al. 2016): 784-300-100-10, ReLU. MNIST.
  lenet5            Caffe's LeNet-5 as in Han et al. 2016: conv 20 5x5, max pool,
                    conv 50 5x5, max pool, FC 500 + ReLU, FC 10. 431,080 params. MNIST.
  small_cnn         3 conv + BN + ReLU, 2 max pools, global average pool, FC 10;
                    any input size (8x8 digits or 28x28 MNIST).
  ds_cnn            MLPerf Tiny keyword spotting (DS-CNN): 49x10x1 MFCC, conv 64
                    10x4 s2, 4 x (depthwise 3x3 + pointwise 64), avg pool 24x5, FC 12.
  mobilenet_v1_025  MLPerf Tiny visual wake words: MobileNetV1 alpha 0.25, 96x96x3, FC 2.
  resnet8           MLPerf Tiny image classification: ResNet-8 on 32x32x3 CIFAR-10, FC 10.
  fc_autoencoder    MLPerf Tiny anomaly detection: FC 640-128x4-8-128x4-640.
  mobilenet_v2_tiny MobileNetV2-style inverted residuals (expand 1x1, depthwise 3x3,
                    linear projection, residual add), 32x32x3, FC 10.

The MLPerf Tiny architectures reproduce the reference Keras models
(mlcommons/tiny, benchmark/training/*), layer for layer: the same shapes,
parameter counts and MACs as the int8 .tflite files (tests/test_zoo.py
checks them against those files). Keras' padding='same' puts the odd row and
column of padding after; those convs are written as ZeroPad2d + Conv2d,
which the compiler fuses back into one conv.

Models with a dataset here (digits, mnist) are trained by `load` with the
default loop (training.py) and cached; the others are seeded random
initializations whose batch-norm statistics are re-estimated on inputs drawn
from their input distribution (`inputs`), so that every layer sees realistic
activations.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from microflat.kernels.cache import cache_dir
from microflat.runtime.errors import CompileError

from . import datasets, training
from .writer import write_atomic


def same_padding(in_size: int, k: int, s: int) -> tuple[int, int]:
    """Keras/TensorFlow 'same': total = max((ceil(in/s) - 1) * s + k - in, 0), the odd one after."""
    out = -(-in_size // s)
    total = max((out - 1) * s + k - in_size, 0)
    return total // 2, total - total // 2


def conv_same(cin, cout, k, s, in_hw, groups=1, bias=True) -> nn.Module:
    """Conv2d with Keras 'same' padding for an input of size in_hw (a ZeroPad2d when it is asymmetric)."""
    kh, kw = (k, k) if isinstance(k, int) else k
    (t, b), (l, r) = same_padding(in_hw[0], kh, s), same_padding(in_hw[1], kw, s)
    if t == b and l == r:
        return nn.Conv2d(cin, cout, (kh, kw), s, (t, l), groups=groups, bias=bias)
    return nn.Sequential(nn.ZeroPad2d((l, r, t, b)), nn.Conv2d(cin, cout, (kh, kw), s, 0, groups=groups, bias=bias))


def conv_bn_relu(cin, cout, k, s, in_hw, groups=1, relu=nn.ReLU):
    layers = [conv_same(cin, cout, k, s, in_hw, groups), nn.BatchNorm2d(cout)]
    if relu is not None:
        layers.append(relu())
    return nn.Sequential(*layers)


class LeNet300(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 300), nn.Linear(300, 100), nn.Linear(100, classes)

    def forward(self, x):
        x = torch.flatten(x, 1)
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


class LeNet5(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 20, 5), nn.Conv2d(20, 50, 5)
        self.pool = nn.MaxPool2d(2)
        self.fc1, self.fc2 = nn.Linear(800, 500), nn.Linear(500, classes)

    def forward(self, x):
        x = self.pool(self.conv2(self.pool(self.conv1(x))))
        return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))


class SmallCNN(nn.Module):
    def __init__(self, classes=10, width=16):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU())
        self.head = nn.Linear(2 * w, classes)

    def forward(self, x):
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))


class DSCNN(nn.Module):
    """mlcommons/tiny keyword_spotting/keras_model.py, ds_cnn (filters 64)."""

    def __init__(self, classes=12, filters=64):
        super().__init__()
        hw = (25, 5)
        layers = [conv_bn_relu(1, filters, (10, 4), 2, (49, 10)), nn.Dropout(0.2)]
        for _ in range(4):
            layers += [conv_bn_relu(filters, filters, 3, 1, hw, groups=filters), conv_bn_relu(filters, filters, 1, 1, hw)]
        layers += [nn.Dropout(0.4), nn.AvgPool2d((24, 5))]  # Keras: pool_size = (int(49/2), int(10/2))
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(filters, classes)

    def forward(self, x):
        return torch.softmax(self.fc(torch.flatten(self.features(x), 1)), dim=-1)


class MobileNetV1(nn.Module):
    """mlcommons/tiny visual_wake_words/vww_model.py: MobileNetV1, alpha 0.25, 96x96x3."""

    def __init__(self, classes=2, size=96):
        super().__init__()
        hw = -(-size // 2)
        layers = [conv_bn_relu(3, 8, 3, 2, (size, size))]
        cin = 8
        for cout, s in [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2)] + [(128, 1)] * 5 + [(256, 2), (256, 1)]:
            layers.append(conv_bn_relu(cin, cin, 3, s, (hw, hw), groups=cin))
            hw = -(-hw // s)
            layers.append(conv_bn_relu(cin, cout, 1, 1, (hw, hw)))
            cin = cout
        layers.append(nn.AvgPool2d(hw))
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(256, classes)

    def forward(self, x):
        return torch.softmax(self.fc(torch.flatten(self.features(x), 1)), dim=-1)


class ResidualStack(nn.Module):
    def __init__(self, cin, cout, stride, in_hw):
        super().__init__()
        out_hw = (-(-in_hw // stride),) * 2
        self.conv1 = conv_bn_relu(cin, cout, 3, stride, (in_hw, in_hw))
        self.conv2 = conv_bn_relu(cout, cout, 3, 1, out_hw, relu=None)
        self.shortcut = conv_same(cin, cout, 1, stride, (in_hw, in_hw)) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x):
        return torch.relu(self.shortcut(x) + self.conv2(self.conv1(x)))


class ResNet8(nn.Module):
    """mlcommons/tiny image_classification/keras_model.py, resnet_v1_eembc (ResNet-8)."""

    def __init__(self, classes=10):
        super().__init__()
        self.stem = conv_bn_relu(3, 16, 3, 1, (32, 32))
        self.stacks = nn.Sequential(ResidualStack(16, 16, 1, 32), ResidualStack(16, 32, 2, 32),
                                    ResidualStack(32, 64, 2, 16))
        self.pool = nn.AvgPool2d(8)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        return torch.softmax(self.fc(torch.flatten(self.pool(self.stacks(self.stem(x))), 1)), dim=-1)


class FCAutoencoder(nn.Module):
    """mlcommons/tiny anomaly_detection/keras_model.py: 640-128x4-8-128x4-640, BN + ReLU after each hidden layer."""

    def __init__(self, inputs=640, hidden=128, bottleneck=8):
        super().__init__()
        sizes = [inputs] + [hidden] * 4 + [bottleneck] + [hidden] * 4
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU()]
        layers.append(nn.Linear(hidden, inputs))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand, in_hw):
        super().__init__()
        mid = cin * expand
        layers = [] if expand == 1 else [conv_bn_relu(cin, mid, 1, 1, (in_hw, in_hw), relu=nn.ReLU6)]
        layers += [conv_bn_relu(mid, mid, 3, stride, (in_hw, in_hw), groups=mid, relu=nn.ReLU6),
                   conv_bn_relu(mid, cout, 1, 1, (-(-in_hw // stride),) * 2, relu=None)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.block(x) if self.residual else self.block(x)


class MobileNetV2Tiny(nn.Module):
    def __init__(self, classes=10, size=32):
        super().__init__()
        hw = -(-size // 2)
        layers = [conv_bn_relu(3, 16, 3, 2, (size, size), relu=nn.ReLU6)]
        cin = 16
        for t, c, n, s in [(1, 8, 1, 1), (6, 16, 2, 2), (6, 24, 2, 2), (6, 32, 2, 1)]:
            for i in range(n):
                stride = s if i == 0 else 1
                layers.append(InvertedResidual(cin, c, stride, t, hw))
                hw = -(-hw // stride)
                cin = c
        layers += [conv_bn_relu(cin, 128, 1, 1, (hw, hw), relu=nn.ReLU6)]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(128, classes)

    def forward(self, x):
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))


# --- inputs from each architecture's input distribution (no dataset here) -----

def _smooth_images(n, size, channels, rng, high):
    """Random images: bilinear upsampling of 4x4 noise plus fine noise, in [0, high]."""
    coarse = torch.from_numpy(rng.uniform(0, 1, (n, channels, 4, 4)).astype(np.float32))
    img = nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    img = img + torch.from_numpy(rng.normal(0, 0.05, img.shape).astype(np.float32))
    return img.clamp(0, 1) * high


def _mfcc_like(n, rng):
    """49 frames x 10 MFCCs around the reference model's input range ([-123, 26] from its quantization):
    a decreasing mean per coefficient, smooth in time."""
    mean = np.linspace(-40.0, 0.0, 10, dtype=np.float32)
    noise = rng.normal(0, 8.0, (n, 1, 49 + 4, 10)).astype(np.float32)
    smooth = sum(noise[:, :, i:i + 49] for i in range(5)) / math.sqrt(5)
    return torch.from_numpy(smooth + mean)


def _log_mel_like(n, rng):
    """640 = 5 frames x 128 log-mel energies, within the reference input range ([-85, 15])."""
    spectrum = np.linspace(-20.0, -50.0, 128, dtype=np.float32)
    x = spectrum + rng.normal(0, 6.0, (n, 1, 128)).astype(np.float32) + rng.normal(0, 3.0, (n, 5, 128)).astype(np.float32)
    return torch.from_numpy(x.reshape(n, 640))


@dataclass(frozen=True)
class Entry:
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...]      # without the batch dimension, PyTorch layout
    dataset: str | None = None        # "mnist" / "digits": trained by load()
    image_size: int | None = None
    sample: Callable | None = None    # (n, rng) -> inputs, for models without a dataset
    epochs: int = 10
    summary: str = ""


ZOO: dict[str, Entry] = {
    "lenet300": Entry(LeNet300, (1, 28, 28), "mnist", 28, epochs=15, summary="LeNet-300-100, MNIST subset"),
    "lenet5": Entry(LeNet5, (1, 28, 28), "mnist", 28, epochs=10, summary="Caffe LeNet-5, MNIST subset"),
    "small_cnn": Entry(SmallCNN, (1, 8, 8), "digits", 8, epochs=40, summary="3-conv CNN, sklearn digits 8x8"),
    "ds_cnn": Entry(DSCNN, (1, 49, 10), sample=_mfcc_like, summary="MLPerf Tiny KWS DS-CNN"),
    "mobilenet_v1_025": Entry(MobileNetV1, (3, 96, 96), sample=lambda n, r: _smooth_images(n, 96, 3, r, 1.0),
                              summary="MLPerf Tiny VWW MobileNetV1 0.25"),
    "resnet8": Entry(ResNet8, (3, 32, 32), sample=lambda n, r: _smooth_images(n, 32, 3, r, 255.0),
                     summary="MLPerf Tiny IC ResNet-8 (0..255 pixels, as the reference)"),
    "fc_autoencoder": Entry(FCAutoencoder, (640,), sample=_log_mel_like, summary="MLPerf Tiny AD autoencoder"),
    "mobilenet_v2_tiny": Entry(MobileNetV2Tiny, (3, 32, 32), sample=lambda n, r: _smooth_images(n, 32, 3, r, 1.0),
                               summary="MobileNetV2-style inverted residuals, 32x32x3"),
}


def entry(name: str) -> Entry:
    if name not in ZOO:
        raise CompileError(f"no zoo model {name!r}; the zoo has {', '.join(sorted(ZOO))}")
    return ZOO[name]


def inputs(name: str, n: int, seed: int = 0, split: str = "test") -> torch.Tensor:
    """n inputs of the model, NCHW: dataset images (the given split) or samples of its input distribution."""
    e = entry(name)
    if e.dataset:
        return datasets.load(e.dataset, split, e.image_size)[0][:n]
    return e.sample(n, np.random.default_rng(seed))


def untrained_inputs(name: str, n: int, seed: int = 0) -> torch.Tensor:
    """n inputs for the untrained model (load(name, trained=False)), NCHW: samples of its input
    distribution, or uniform noise in [0, 1) from torch's global generator for a dataset model, so that
    no dataset is needed. The tests and the benchmarks calibrate and run the untrained zoo on these."""
    e = entry(name)
    if e.dataset:
        return torch.rand((n,) + e.input_shape)
    return e.sample(n, np.random.default_rng(seed))


def cache_path(name: str) -> str:
    """Where load() keeps a dataset model's trained weights: the cache folder (kernels/cache.py)/zoo."""
    e = entry(name)
    key = hashlib.sha256(f"{name}|{e.dataset}|{e.epochs}|{torch.__version__}|1".encode()).hexdigest()[:12]
    return str(cache_dir() / "zoo" / f"{name}-{key}.pt")


def load(name: str, *, trained: bool = True, seed: int = 0, progress: bool = False) -> nn.Module:
    """The zoo model in eval mode: trained (and cached) when a dataset exists, else BN-calibrated at a seed."""
    e = entry(name)
    torch.manual_seed(seed)
    model = e.build()
    if e.dataset and trained:
        path = cache_path(name)
        if os.path.exists(path):
            model.load_state_dict(torch.load(path, weights_only=True))
            return model.eval()
        x, y = datasets.load(e.dataset, "train", e.image_size)
        training.fit(model, x, y, epochs=e.epochs, seed=seed, progress=progress)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        write_atomic(path, buf.getvalue())
        return model.eval()
    if e.sample is not None:
        training.reestimate_batch_norm(model, inputs(name, 256, seed=seed + 1))
    return model.eval()


def example_input(name: str) -> torch.Tensor:
    return torch.zeros((1,) + entry(name).input_shape)
