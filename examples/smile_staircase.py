"""The SMILE staircase (Song & Ermon, ICLR 2020, Fig. 1-2) with infoest's compiled trainer.

20-dim x, ε ~ N(0, I); y = ρx + sqrt(1-ρ²)ε (and the "cubic" variant y³, same MI). The true MI
steps through 2, 4, 6, 8, 10 nats (``steps_per_stage`` steps each, 4 000 in the paper), with a
fresh batch of 64 pairs every step (online training), Adam lr 5e-4. For every critic (joint:
MLP on concat(x, y); separable: g(x)ᵀh(y)) it trains SMILE τ ∈ {1, 5, ∞}, InfoNCE, NWJ and MINE
and plots the per-step estimates (EMA, span 200) against the staircase, with log 64 dashed.

Each estimator is ONE compiled ``infoest.train.fit`` call, ``jax.vmap``-ed over the data kind
(Gaussian / cubic) and, for SMILE, over τ: 6 SMILE runs are one program.

    python examples/smile_staircase.py                     # published length: 20 000 steps
    python examples/smile_staircase.py --steps 500 --width 64   # scaled (1/8), minutes on CPU
"""

from __future__ import annotations

import argparse
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from infoest.train import fit
from infoest.variational import bounds
from infoest.variational.critics import ConcatCritic, SeparableCritic

DIM, BATCH = 20, 64
LEVELS = np.array([2.0, 4.0, 6.0, 8.0, 10.0])


def mi_schedule(steps_per_stage: int) -> np.ndarray:
    """The paper's per-step true MI: round(linspace(0.5, 5.5 - 1e-9, n)) * 2."""
    n = 5 * steps_per_stage
    return np.round(np.linspace(0.5, 5.5 - 1e-9, n)) * 2.0


def rho_of(mi):
    return np.sqrt(1.0 - np.exp(-2.0 * mi / DIM))


def make_sampler(rhos: jnp.ndarray, cubic):
    def sample(key, step):
        kx, ke = jax.random.split(key)
        x = jax.random.normal(kx, (BATCH, DIM))
        rho = rhos[step]
        y = rho * x + jnp.sqrt(1.0 - rho**2) * jax.random.normal(ke, (BATCH, DIM))
        return x, jnp.where(cubic, y**3, y)

    return sample


def make_loss(name: str, tau):
    if name == "mine":
        def loss(critic, batch, key, log_ma):
            value, log_ma = bounds.mine(bounds.score_matrix(critic, *batch), log_ma, rate=0.01)
            return -value, value, log_ma
        return loss

    def loss(critic, batch, key):
        s = bounds.score_matrix(critic, *batch)
        value = bounds.smile(s, tau=tau) if name == "smile" else getattr(bounds, name)(s)
        return -value, value
    return loss


def run(name: str, critic_kind: str, width: int, rhos, key, taus=None):
    """Per-step estimates, shape (2, [len(taus),] steps): Gaussian and cubic."""
    steps = rhos.shape[0]

    def one(cubic, tau):
        kc, kf = jax.random.split(key)
        if critic_kind == "joint":
            critic = ConcatCritic(DIM, DIM, (width, width), key=kc)
        else:
            critic = SeparableCritic(DIM, DIM, (width, width), 32, key=kc)
        res = fit(make_loss(name, tau), critic, make_sampler(rhos, cubic), key=kf,
                  steps=steps, optimizer=optax.adam(5e-4),
                  state=jnp.array(-jnp.inf) if name == "mine" else None, throw=False)
        return res.train_aux

    cubic = jnp.array([False, True])
    if taus is None:
        return jax.jit(jax.vmap(lambda c: one(c, jnp.inf)))(cubic)
    return jax.jit(jax.vmap(lambda c: jax.vmap(lambda t: one(c, t))(taus)))(cubic)


def ema(values: np.ndarray, span: int = 200) -> np.ndarray:
    alpha = 2.0 / (span + 1.0)
    out = np.empty_like(values)
    acc = values[0]
    for i, v in enumerate(values):
        acc = alpha * v + (1 - alpha) * acc if np.isfinite(v) else acc
        out[i] = acc
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4000, help="steps per stage (paper: 4000)")
    parser.add_argument("--width", type=int, default=256, help="hidden width (paper: 256)")
    parser.add_argument("--critics", default="joint,separable")
    parser.add_argument("--out", default="smile_staircase.png")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    truth = mi_schedule(args.steps)
    rhos = jnp.asarray(rho_of(truth), jnp.float32)
    key = jax.random.PRNGKey(args.seed)
    taus = jnp.array([1.0, 5.0, jnp.inf])
    labels = ["SMILE τ=1", "SMILE τ=5", "SMILE τ=∞", "InfoNCE", "NWJ", "MINE"]
    critics = args.critics.split(",")
    curves = {}  # (critic, data) -> (6, steps)
    for critic_kind in critics:
        t0 = time.time()
        smile = np.asarray(run("smile", critic_kind, args.width, rhos, key, taus))
        others = [np.asarray(run(n, critic_kind, args.width, rhos, key))
                  for n in ("infonce", "nwj", "mine")]
        for d, data in enumerate(("gaussian", "cubic")):
            curves[critic_kind, data] = np.concatenate([smile[d], *[o[d][None] for o in others]])
        print(f"{critic_kind}: {time.time() - t0:.0f} s", flush=True)

    # Bias / variance per stage over the second half of each stage (as in the paper's MSE).
    print(f"\n{'critic/data':22s} {'estimator':10s} " + " ".join(
        f"{int(m):>2d}n: mean   sd" for m in LEVELS))
    n = args.steps
    for (critic_kind, data), c in curves.items():
        for label, est in zip(labels, c, strict=True):
            cells = []
            for s in range(5):
                seg = est[s * n + n // 2:(s + 1) * n]
                cells.append(f"{np.nanmean(seg):7.2f} {np.nanstd(seg):5.2f}")
            print(f"{critic_kind + '/' + data:22s} {label:10s} " + " ".join(cells))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [(c, d) for c in critics for d in ("gaussian", "cubic")]
    fig, axes = plt.subplots(len(labels), len(cols), figsize=(4 * len(cols), 2.2 * len(labels)),
                             sharex=True, sharey=True, squeeze=False)
    steps = np.arange(truth.size)
    for j, col in enumerate(cols):
        for i, label in enumerate(labels):
            ax = axes[i, j]
            raw = curves[col][i]
            ax.plot(steps, np.clip(raw, -2, 14), color="0.8", lw=0.3)
            ax.plot(steps, ema(raw), color="C0", lw=1.0)
            ax.plot(steps, truth, color="k", lw=1.0)
            ax.axhline(math.log(BATCH), color="C3", ls="--", lw=0.8)
            ax.set_ylim(-1, 12)
            if i == 0:
                ax.set_title(f"{col[0]} critic, {col[1]}")
            if j == 0:
                ax.set_ylabel(label)
    for ax in axes[-1]:
        ax.set_xlabel("step")
    fig.suptitle(f"SMILE staircase, d={DIM}, batch {BATCH}, {args.steps} steps/stage, "
                 f"width {args.width} (grey: raw, blue: EMA 200; dashed: log {BATCH})")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"\nsaved {args.out}")


if __name__ == "__main__":
    main()
