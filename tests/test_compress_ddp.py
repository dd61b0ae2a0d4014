"""Every compression wrapper under DistributedDataParallel: 2 CPU processes (gloo), each on its own data.

DDP's buffer broadcast is off (broadcast_buffers=False), so nothing copies
rank 0's masks, cluster indices or activation ranges to rank 1: they agree
only if each rank computes them identically (masks and indices from the
all-reduced weights; activation ranges all-reduced by FakeQuant itself).
The test checks that they agree bit for bit, and that they are not trivially
equal: masks have the scheduled zeros, centroids moved in training, ranges
were observed.
"""

import os
import socket

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
import torch.nn as nn  # noqa: E402
from torch.nn.parallel import DistributedDataParallel as DDP  # noqa: E402

WORLD = 2


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        return self.fc(torch.flatten(torch.relu(self.conv2(x)), 1))


def _train(ddp_model, x, y, steps, on_step=None):
    opt = torch.optim.SGD([p for p in ddp_model.parameters() if p.requires_grad], lr=0.05)
    for i in range(steps):
        xb, yb = x[i * 16:(i + 1) * 16], y[i * 16:(i + 1) * 16]
        opt.zero_grad()
        nn.functional.cross_entropy(ddp_model(xb), yb).backward()
        opt.step()
        if on_step is not None:
            on_step()


def _worker(rank, port, out_dir):
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    torch.set_num_threads(1)
    from microflat.compiler.compress import cluster, prune, qat

    torch.manual_seed(0)
    model = Net()
    g = torch.Generator().manual_seed(100 + rank)  # each rank its own data
    x = torch.rand(16 * 12, 1, 8, 8, generator=g)
    y = torch.randint(0, 10, (16 * 12,), generator=g)

    schedule = prune.PolynomialDecay(model, 0.75, begin_step=0, end_step=4, frequency=1)
    _train(DDP(model, broadcast_buffers=False), x, y, 4, schedule.step)
    masks = {n: p[0].mask.clone() for n, m in model.named_modules() if hasattr(m, "parametrizations")
             for p in [m.parametrizations.weight]}

    cluster.apply(model, 8)
    before = {n: c.detach().clone() for n, c in cluster.centroids(model).items()}
    _train(DDP(model, broadcast_buffers=False), x, y, 4)
    cents = {n: c.detach().clone() for n, c in cluster.centroids(model).items()}
    index = {n: m.parametrizations.weight[0].index.clone() for n, m in model.named_modules()
             if hasattr(m, "parametrizations")}

    q = qat.prepare(model)
    _train(DDP(q, broadcast_buffers=False), x, y, 4)
    qparams = qat.quantization_parameters(q)
    torch.save(dict(masks=masks, before=before, centroids=cents, index=index, qparams=qparams),
               os.path.join(out_dir, f"rank{rank}.pt"))
    dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_masks_centroids_and_quantization_agree_across_ranks(tmp_path):
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(WORLD))
    assert r0["masks"].keys() == r1["masks"].keys() and len(r0["masks"]) == 3
    for n in r0["masks"]:
        assert torch.equal(r0["masks"][n], r1["masks"][n]), n
        assert abs(float(1 - r0["masks"][n].mean()) - 0.75) < 0.01, n  # the schedule's final sparsity
    for n in r0["centroids"]:
        assert torch.equal(r0["centroids"][n], r1["centroids"][n]), n
        assert torch.equal(r0["index"][n], r1["index"][n]), n
        assert not torch.equal(r0["centroids"][n], r0["before"][n]), f"{n}: centroids did not train"
    assert r0["qparams"] == r1["qparams"]
    assert len(r0["qparams"]) >= 4 and all(s != 1.0 for s, _ in r0["qparams"].values())
    # the ranks saw different data, so a range that were not all-reduced would differ: check one is data-dependent
    assert len({s for s, _ in r0["qparams"].values()}) > 1
    np.testing.assert_equal(len(r0["index"]), 3)
