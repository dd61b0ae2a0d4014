"""Six small PyTorch models of the kinds users bring, written as they would write them (seeded weights): each must
compile with the CLI and run within a derived bound of float on both backends (test_model_reach.py).

    mobilenet_v3   hardswish, squeeze-and-excitation (global pool, two 1x1 convs, hardsigmoid, broadcast mul), residual
    efficientnet   an MBConv block with SiLU and a sigmoid squeeze-and-excitation
    kws_1d         a 1-D conv keyword spotter on [1, 40, 49] (Conv1d, BatchNorm1d, MaxPool1d, AdaptiveAvgPool1d)
    unet           a two-level U-Net: ConvTranspose2d and nn.Upsample, skip concatenations
    transformer    two nn.TransformerEncoderLayer (LayerNorm, multi-head attention, GELU MLP) on [1, 16, 32]
    text           nn.Embedding of int64 token ids, a mean over the sequence, two Linear layers
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _bn(bn: nn.Module, g: torch.Generator) -> nn.Module:
    """Trained-looking running statistics and affine parameters (fresh ones are the identity)."""
    n = bn.num_features
    bn.running_mean.copy_(torch.randn(n, generator=g) * 0.2)
    bn.running_var.copy_(torch.rand(n, generator=g) + 0.5)
    bn.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
    bn.bias.data.copy_(torch.randn(n, generator=g) * 0.2)
    return bn


class SqueezeExcite(nn.Module):
    def __init__(self, c, hidden, act, gate):
        super().__init__()
        self.reduce, self.expand = nn.Conv2d(c, hidden, 1), nn.Conv2d(hidden, c, 1)
        self.act, self.gate = act, gate

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * self.gate(self.expand(self.act(self.reduce(s))))


class MobileNetV3Block(nn.Module):
    def __init__(self, c, expand, g):
        super().__init__()
        self.expand = nn.Sequential(nn.Conv2d(c, expand, 1, bias=False), _bn(nn.BatchNorm2d(expand), g), nn.Hardswish())
        self.dw = nn.Sequential(nn.Conv2d(expand, expand, 3, padding=1, groups=expand, bias=False),
                                _bn(nn.BatchNorm2d(expand), g), nn.Hardswish())
        self.se = SqueezeExcite(expand, 8, nn.ReLU(), nn.Hardsigmoid())
        self.project = nn.Sequential(nn.Conv2d(expand, c, 1, bias=False), _bn(nn.BatchNorm2d(c), g))

    def forward(self, x):
        return x + self.project(self.se(self.dw(self.expand(x))))


class MobileNetV3Small(nn.Module):
    """input [1, 3, 32, 32]"""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        torch.manual_seed(1)
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False), _bn(nn.BatchNorm2d(16), g),
                                  nn.Hardswish())
        self.blocks = nn.Sequential(MobileNetV3Block(16, 32, g), MobileNetV3Block(16, 48, g))
        self.head = nn.Sequential(nn.Linear(16, 32), nn.Hardswish(), nn.Linear(32, 10))

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class EfficientNetBlock(nn.Module):
    """input [1, 3, 32, 32]: a stem, one MBConv (expand, depthwise, SE, project, residual), a head; SiLU throughout."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(2)
        torch.manual_seed(2)
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False), _bn(nn.BatchNorm2d(16), g),
                                  nn.SiLU())
        self.expand = nn.Sequential(nn.Conv2d(16, 64, 1, bias=False), _bn(nn.BatchNorm2d(64), g), nn.SiLU())
        self.dw = nn.Sequential(nn.Conv2d(64, 64, 5, padding=2, groups=64, bias=False), _bn(nn.BatchNorm2d(64), g),
                                nn.SiLU())
        self.se = SqueezeExcite(64, 4, nn.SiLU(), nn.Sigmoid())
        self.project = nn.Sequential(nn.Conv2d(64, 16, 1, bias=False), _bn(nn.BatchNorm2d(16), g))
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.stem(x)
        x = x + self.project(self.se(self.dw(self.expand(x))))
        return self.fc(x.mean(dim=(2, 3)))


class KeywordSpotter1d(nn.Module):
    """input [1, 40, 49]: 40 MFCC features by 49 frames."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        torch.manual_seed(3)
        self.features = nn.Sequential(
            nn.Conv1d(40, 32, 5, stride=2, padding=2), _bn(nn.BatchNorm1d(32), g), nn.ReLU(),
            nn.Conv1d(32, 32, 3, padding=1, groups=32), _bn(nn.BatchNorm1d(32), g), nn.ReLU(),
            nn.Conv1d(32, 48, 1), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(48, 48, 3, padding=1), nn.ReLU(), nn.AvgPool1d(2), nn.AdaptiveAvgPool1d(1))
        self.classifier = nn.Linear(48, 12)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def _double_conv(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU())


class SmallUNet(nn.Module):
    """input [1, 3, 32, 32]; output [1, 2, 32, 32] (per-pixel logits)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(4)
        self.enc1, self.enc2, self.bottom = _double_conv(3, 8), _double_conv(8, 16), _double_conv(16, 32)
        self.up2 = nn.ConvTranspose2d(32, 16, 2, stride=2)
        self.dec2 = _double_conv(32, 16)
        self.up1 = nn.Upsample(scale_factor=2, mode="nearest")
        self.dec1 = _double_conv(16 + 8, 8)
        self.out = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        e1 = self.enc1(x)                       # [1, 8, 32, 32]
        e2 = self.enc2(F.max_pool2d(e1, 2))     # [1, 16, 16, 16]
        b = self.bottom(F.max_pool2d(e2, 2))    # [1, 32, 8, 8]
        d2 = self.dec2(torch.cat([self.up2(b), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))
        return self.out(d1)


class TransformerEncoder(nn.Module):
    """input [1, 16, 32]: 16 tokens of 32 features; two encoder layers, 4 heads, a GELU MLP of 64, then the mean
    token through a Linear classifier."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        layer = nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, dropout=0.0, activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.fc = nn.Linear(32, 5)

    def forward(self, x):
        return self.fc(self.encoder(x).mean(dim=1))


class TextClassifier(nn.Module):
    """input [1, 20] int64 token ids of a 1,000-word vocabulary."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(6)
        self.embed = nn.Embedding(1000, 32)
        self.fc1, self.fc2 = nn.Linear(32, 24), nn.Linear(24, 4)

    def forward(self, ids):
        return self.fc2(torch.relu(self.fc1(self.embed(ids).mean(dim=1))))


REACH_MODELS = {"mobilenet_v3": MobileNetV3Small, "efficientnet": EfficientNetBlock, "kws_1d": KeywordSpotter1d,
                "unet": SmallUNet, "transformer": TransformerEncoder, "text": TextClassifier}
INPUT_SHAPES = {"mobilenet_v3": (1, 3, 32, 32), "efficientnet": (1, 3, 32, 32), "kws_1d": (1, 40, 49),
                "unet": (1, 3, 32, 32), "transformer": (1, 16, 32), "text": (1, 20)}


def reach_inputs(name: str, n: int, seed: int = 0) -> torch.Tensor:
    """n inputs of the model: standard normal features, or uniform token ids."""
    g = torch.Generator().manual_seed(seed)
    shape = (n,) + INPUT_SHAPES[name][1:]
    if name == "text":
        return torch.randint(0, 1000, shape, generator=g)
    return torch.randn(shape, generator=g)
