"""Small PyTorch models that use every operator the zoo does not, for the whole-model tests: the C runtime on
Cortex-M and aarch64 under QEMU, the fuzzed loaders, the step programs. Seeded weights, float32 input
[1, 3, 8, 8] (NCHW, as PyTorch takes it; ops/embedding: [1, 12] token ids); compiled by zoo_files.compiled_zoo
beside the zoo."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class TableActivations(nn.Module):
    """Every table activation, each on its own branch of a conv, concatenated."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.prelu = nn.PReLU(init=0.2)

    def forward(self, x):
        h = self.conv(x)
        branches = [F.gelu(h), F.gelu(h, approximate="tanh"), F.silu(h), h * torch.sigmoid(h), F.hardsigmoid(h),
                    F.leaky_relu(h, 0.1), self.prelu(h), F.elu(h), F.mish(h), torch.tanh(h), F.hardswish(h)]
        return F.relu6(torch.cat(branches, dim=1))  # a ReLU6 after a concatenation: a table too


class BinaryOps(nn.Module):
    """sub, maximum, minimum, squared difference, and Python numbers and constant tensors as operands."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(3, 4, 1)
        self.register_buffer("offset", torch.linspace(-1.0, 1.0, 4).reshape(4, 1, 1))

    def forward(self, x):
        a, b = self.a(x), self.b(x)
        parts = [a - b, torch.maximum(a, b), torch.minimum(a, b), (a - b) ** 2, a * 0.5 + 1.0, 2.0 - b,
                 a / 4 - self.offset, torch.maximum(b, torch.tensor(0.25))]
        return torch.cat(parts, dim=1)


class AttentionAndUpsampling(nn.Module):
    """Tokens from a conv (a flatten and transpose of the image), one head of attention (Linear on a sequence,
    q k^T scaled, softmax, times v), then back to an image upsampled by a ConvTranspose2d."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.q, self.k, self.v = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 8)
        self.up = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)

    def forward(self, x):
        h = self.embed(x)                                  # [1, 8, 4, 4]
        t = h.flatten(2).transpose(1, 2)                   # [1, 16, 8] tokens
        a = F.scaled_dot_product_attention(self.q(t), self.k(t), self.v(t))
        image = (a + t).transpose(1, 2).reshape(h.shape)   # [1, 8, 4, 4]
        return torch.relu(self.up(image))                  # [1, 4, 8, 8]


class NormsAndResizing(nn.Module):
    """LayerNorm over tokens (MEAN, SQUARED_DIFFERENCE, RSQRT, MUL, ADD), reductions over other axes (mean over
    channels, sum, amax), nearest and bilinear upsampling."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.norm = nn.LayerNorm(6)

    def forward(self, x):
        h = self.conv(x)                                                    # [1, 6, 8, 8]
        t = self.norm(h.flatten(2).transpose(1, 2))                         # [1, 64, 6]
        g = t.transpose(1, 2).reshape(h.shape)
        pooled = F.avg_pool2d(g, 2)                                         # [1, 6, 4, 4]
        up = F.interpolate(pooled, scale_factor=2) + F.interpolate(pooled, scale_factor=2, mode="bilinear")
        stats = torch.cat([h.mean(dim=1, keepdim=True), h.amax(dim=1, keepdim=True),
                           h.sum(dim=1, keepdim=True) * 0.25], dim=1)       # [1, 3, 8, 8]
        return torch.cat([up, stats], dim=1)


class SlicingAndGathering(nn.Module):
    """chunk, strided slicing, unbind and stack, index_select and x[:, i] (STRIDED_SLICE with and without
    shrinking, CONCATENATION as PACK, GATHER with constant indices)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.register_buffer("order", torch.tensor([5, 0, 2]))

    def forward(self, x):
        h = self.conv(x)                                       # [1, 6, 8, 8]
        a, b = h.chunk(2, dim=1)                               # [1, 3, 8, 8] each
        g = h.index_select(1, self.order)                      # [1, 3, 8, 8]
        strided = h[:, :, 1:7:2, ::3]                          # [1, 6, 3, 3]
        rows = torch.stack(h.unbind(2)[::2], dim=2)            # [1, 6, 4, 8]
        parts = [(a - b + g).flatten(1), strided.flatten(1), rows.flatten(1), h[:, 2].flatten(1), h[..., -1].flatten(1)]
        return torch.cat(parts, dim=1)


class Embedding(nn.Module):
    """Token ids (an int32 model input) through nn.Embedding (GATHER), a mean over the sequence, a Linear."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(40, 8)
        self.fc = nn.Linear(8, 5)

    def forward(self, ids):
        return self.fc(self.embed(ids).mean(dim=1))


class Int16Activations(nn.Module):
    """TFLite's int16 LOGISTIC, TANH and SOFTMAX (compiled with activations="int16": OP_MODEL_OPTIONS): the sigmoid
    of a conv's first two channels times the tanh of its last two (int16 STRIDED_SLICE, a 16x8 MUL), beside its
    middle two (an int16 CONCATENATION), a Linear, the softmax of its logits."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        h = self.conv(x)
        gated = torch.cat([torch.sigmoid(h[:, :2]) * torch.tanh(h[:, 2:]), h[:, 1:3]], dim=1)
        return torch.softmax(self.fc(gated.flatten(1)), dim=-1)


class Int16Lstm(nn.Module):
    """TFLite Micro's 16x8 LSTM (compiled with activations="int16"): each image's 8 rows of 3 x 8 values as a
    sequence (a reshape), an nn.LSTM from the zero state, a Linear on its last hidden state h_n."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(24, 8, batch_first=True)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        _, (h, _) = self.lstm(x.reshape(x.shape[0], 8, 24))
        return self.fc(h[-1])


OP_MODELS = {"ops/tables": TableActivations, "ops/binary": BinaryOps, "ops/attention": AttentionAndUpsampling,
             "ops/norms": NormsAndResizing, "ops/slicing": SlicingAndGathering,
             "ops/embedding": Embedding, "ops/activations16": Int16Activations, "ops/lstm16": Int16Lstm}
# compile_model options of an op model other than the defaults
OP_MODEL_OPTIONS = {"ops/activations16": dict(activations="int16"), "ops/lstm16": dict(activations="int16")}


def op_model(name: str) -> nn.Module:
    torch.manual_seed(0)
    return OP_MODELS[name]().eval()


def op_model_inputs(n: int, seed: int, name: str = "") -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if name == "ops/embedding":  # [n, 12] token ids of its 40-word vocabulary
        return torch.randint(0, 40, (n, 12), generator=g)
    return torch.randn(n, 3, 8, 8, generator=g) * 2
