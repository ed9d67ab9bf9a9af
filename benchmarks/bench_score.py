"""Training throughput (samples/s) of the MINDE/SΩI score network: infoest (JAX) vs PyTorch.

Same architecture (see ``infoest.score.network``), D = 10 (5+5, MINDE-C masks), width 64,
batch 256, Adam 1e-3; JAX: one compiled ``train.fit`` (EMA on), timed on a second call;
PyTorch: an eager loop with the same loss. Usage: ``python benchmarks/bench_score.py
[--steps 500]`` (torch only needed here: ``pip install torch==2.13.0``).

``--coverage minde|soi|treet [--reps R] [--n N] [--steps S] [--same-data]``: calibration of
``stderr``. R replicates (each a fresh sample of a ground-truth task and a fresh key, or with
``--same-data`` one sample and R keys: the training noise alone) are drawn and estimated in
one vmapped call; prints the mean estimate, its bias, the standard deviation of the
estimates across replicates, the mean reported stderr and the coverage of value ± 1.96 ·
stderr (results: ``docs/score.md`` and ``docs/transfer_entropy.md``, "Error bars").
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


def coverage(which: str, reps: int, n: int, steps: int, same_data: bool, seed: int = 0):
    """Coverage of value ± 1.96·stderr over ``reps`` vmapped replicates; returns a dict."""

    import infoest
    from infoest.tasks import blocks, processes

    if which == "minde":
        task = infoest.tasks.bivariate_normal(0.5)

        def estimate(data, key):
            return infoest.mutual_information(*data, method="minde", key=key, steps=steps,
                                              batch_size=128, mc_iter=4, throw=False)
    elif which == "soi":
        task = blocks.block_system([("red", 3, 0.7)])

        def estimate(data, key):
            return infoest.o_information(data[0], method="soi", key=key, steps=steps, width=64,
                                         batch_size=256, mc_iter=4, throw=False)
    else:
        task = processes.coupled_ar1()

        def estimate(data, key):
            return infoest.transfer_entropy(*data, method="treet", key=key, history=1,
                                            steps=steps, batch_size=256, width=16,
                                            ff_width=32, throw=False)

    kd, ke = jax.random.split(jax.random.PRNGKey(seed))
    data_keys = jax.random.split(kd, 1 if same_data else reps)
    est_keys = jax.random.split(ke, reps)

    def one(dk, ek):
        return estimate(task.sample(dk, n), ek)

    t0 = time.perf_counter()
    if same_data:
        out = jax.jit(jax.vmap(lambda ek: one(data_keys[0], ek)))(est_keys)
    else:
        out = jax.jit(jax.vmap(one))(data_keys, est_keys)
    value, se = np.asarray(out.value), np.asarray(out.stderr)
    ok = np.asarray(out.status) == 0
    wall = time.perf_counter() - t0
    value, se = value[ok], se[ok]
    cover = np.abs(value - task.value) <= 1.96 * se
    return dict(method=which, task=task.name, truth=float(task.value), n=n, steps=steps,
                reps=reps, ok=int(ok.sum()), same_data=same_data, mean=float(value.mean()),
                bias=float(value.mean() - task.value), sd=float(value.std(ddof=1)),
                stderr=float(se.mean()), coverage=float(cover.mean()), wall=wall,
                bias_free_coverage=float((np.abs(value - value.mean()) <= 1.96 * se).mean()))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--coverage", choices=("minde", "soi", "treet"))
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--same-data", action="store_true")
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    if args.coverage:
        res = coverage(args.coverage, args.reps, args.n, args.steps, args.same_data)
        print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in res.items()), flush=True)
        return
    z = np.random.default_rng(0).normal(size=(10_000, 10)).astype(np.float32)
    j = bench_jax(z, args.steps, args.batch)
    t = bench_torch(z, args.steps, args.batch)
    print(f"score net D=10 h=64 batch={args.batch} steps={args.steps}")
    print(f"infoest (JAX) {j:,.0f} samples/s | PyTorch {t:,.0f} samples/s | ratio {j / t:.2f}x")


if __name__ == "__main__":
    main()
