"""Training throughput (samples/s) of the MINDE/SΩI score network: infoest (JAX) vs PyTorch.

Same architecture (see ``infoest.score.network``), D = 10 (5+5, MINDE-C masks), width 64,
batch 256, Adam 1e-3; JAX: one compiled ``train.fit`` (EMA on), timed on a second call;
PyTorch: an eager loop with the same loss. Usage: ``python benchmarks/bench_score.py
[--steps 500]`` (torch only needed here: ``pip install torch==2.13.0``).
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from infoest.score import masks, network


def bench_jax(z, steps, batch):
    idx = masks.var_index((5, 5))
    m = masks.minde_masks("c")

    def run(key):
        return network.train_score_net(z, idx, m, key=key, steps=steps, batch_size=batch,
                                       width=64, ema_decay=0.999)[1].train_loss

    f = jax.jit(run)
    jax.block_until_ready(f(jax.random.PRNGKey(0)))
    t0 = time.perf_counter()
    jax.block_until_ready(f(jax.random.PRNGKey(1)))
    return steps * batch / (time.perf_counter() - t0)


def bench_torch(z, steps, batch):
    import torch
    from torch import nn

    torch.set_num_threads(2)
    d, h = z.shape[1], 64

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp, self.t1, self.t2 = nn.Linear(d, h), nn.Linear(2, h), nn.Linear(h, h)
            self.n1, self.l1 = nn.GroupNorm(8, 2 * h), nn.Linear(2 * h, h)
            self.n2, self.l2, self.skip = nn.GroupNorm(8, h), nn.Linear(h, h), nn.Linear(2 * h, h)
            self.no, self.out = nn.GroupNorm(8, h), nn.Linear(h, d)

        def forward(self, x, t):
            temb = self.t2(nn.functional.gelu(self.t1(t)))
            h0 = self.inp(x)
            hh = torch.cat([h0, h0], 1)
            a = self.l1(nn.functional.silu(self.n1(hh))) + temb
            a = self.l2(nn.functional.silu(self.n2(a))) + self.skip(hh)
            return self.out(nn.functional.silu(self.no(a)))

    net = Net()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    ema = [p.detach().clone() for p in net.parameters()]
    zt = torch.from_numpy(np.asarray(z))

    def step():
        idx = torch.randint(0, zt.shape[0], (batch,))
        x0 = zt[idx]
        t = torch.rand(batch, 1) * 0.999 + 1e-3
        bint = 0.1 * t + 0.5 * 19.9 * t**2
        mean, sd = torch.exp(-0.5 * bint), torch.sqrt(1 - torch.exp(-bint))
        eps = torch.randn_like(x0)
        cond = (torch.rand(batch, 1) < 0.5).float()  # mask [1, 0] or [1, -1]
        xt = mean * x0 + sd * eps
        y = torch.cat([xt[:, :5], cond * x0[:, 5:]], 1)
        tv = torch.cat([t, 1 - cond], 1)
        loss = ((net(y, tv) - eps)[:, :5] ** 2).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema, net.parameters(), strict=True):
                e.mul_(0.999).add_(p, alpha=0.001)

    for _ in range(20):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - t0)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    z = np.random.default_rng(0).normal(size=(10_000, 10)).astype(np.float32)
    j = bench_jax(z, args.steps, args.batch)
    t = bench_torch(z, args.steps, args.batch)
    print(f"score net D=10 h=64 batch={args.batch} steps={args.steps}")
    print(f"infoest (JAX) {j:,.0f} samples/s | PyTorch {t:,.0f} samples/s | ratio {j / t:.2f}x")


if __name__ == "__main__":
    main()
