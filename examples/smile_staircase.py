"""The SMILE staircase (Song & Ermon, ICLR 2020, Fig. 1-2) with infoest's compiled trainer.

20-dim x, ε ~ N(0, I); y = ρx + sqrt(1-ρ²)ε (and the "cubic" variant y³, same MI). The true MI
steps through 2, 4, 6, 8, 10 nats (``steps_per_stage`` steps each, 4 000 in the paper), with a
fresh batch of 64 pairs every step (online training), Adam lr 5e-4. For every critic (joint:
MLP on concat(x, y); separable: g(x)ᵀh(y)) it trains SMILE τ ∈ {1, 5, ∞}, InfoNCE, NWJ and MINE
and plots the per-step estimates (EMA, span 200) against the staircase, with log 64 dashed.

Each critic kind is ONE compiled ``infoest.train.fit`` call, ``jax.vmap``-ed over the 12
(data kind, estimator) configurations: the bound index and τ are traced arrays.

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


ESTIMATORS = (  # (label, bound, tau)
    ("SMILE τ=1", "smile", 1.0),
    ("SMILE τ=5", "smile", 5.0),
    ("SMILE τ=∞", "smile", math.inf),
    ("InfoNCE", "infonce", math.inf),
    ("NWJ", "nwj", math.inf),
    ("MINE", "mine", math.inf),
)
_BOUNDS = ("smile", "infonce", "nwj", "mine")


def loss(critic, batch, key, log_ma, which, tau):
    """``-bound`` for the bound number ``which`` (traced), so every estimator is one program.

    All four bounds are cheap functions of the one 64×64 score matrix; indexing the stacked
    values sends the gradient only through the selected bound. MINE's moving average
    (rate 0.01) is the explicit state; it is only advanced when MINE is selected.
    """
    del key
    stats = bounds.score_stats(bounds.score_matrix(critic, *batch), tau=tau)
    mine_value, new_ma = bounds.mine(stats, log_ma, rate=0.01)
    values = jnp.stack([bounds.smile(stats), bounds.infonce(stats), bounds.nwj(stats),
                        mine_value])
    value = values[which]
    return -value, value, jnp.where(which == _BOUNDS.index("mine"), new_ma, log_ma)


def run(critic_kind: str, width: int, depth: int, rhos, key):
    """Per-step estimates, shape (2, len(ESTIMATORS), steps): Gaussian and cubic data.

    ONE compiled ``fit``, ``jax.vmap``-ed over the 2 × 6 (data, estimator) configurations:
    the data kind, the bound index and τ are traced arrays.
    """
    steps = rhos.shape[0]
    kc, kf = jax.random.split(key)
    if critic_kind == "joint":
        critic = ConcatCritic(DIM, DIM, (width,) * depth, key=kc)
    else:
        critic = SeparableCritic(DIM, DIM, (width,) * depth, 32, key=kc)

    def one(cubic, which, tau):
        res = fit(lambda c, b, k, s: loss(c, b, k, s, which, tau), critic,
                  make_sampler(rhos, cubic), key=kf, steps=steps,
                  optimizer=optax.adam(5e-4), state=jnp.array(-jnp.inf), throw=False)
        return res.train_aux

    n = len(ESTIMATORS)
    cubic = jnp.repeat(jnp.array([False, True]), n)
    which = jnp.tile(jnp.array([_BOUNDS.index(b) for _, b, _ in ESTIMATORS]), 2)
    taus = jnp.tile(jnp.array([t for _, _, t in ESTIMATORS], jnp.float32), 2)
    t0 = time.time()
    compiled = jax.jit(jax.vmap(one)).lower(cubic, which, taus).compile()
    t1 = time.time()
    out = jax.block_until_ready(compiled(cubic, which, taus))
    print(f"{critic_kind}: compile {t1 - t0:.0f} s, run {time.time() - t1:.0f} s "
          f"({len(cubic)} configurations × {steps} steps)", flush=True)
    return out.reshape(2, n, steps)


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
    parser.add_argument("--depth", type=int, default=3,
                        help="hidden layers (paper: 3, i.e. its mlp(layers=2))")
    parser.add_argument("--critics", default="joint,separable")
    parser.add_argument("--out", default="smile_staircase.png")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--npz", default=None, help="also save the raw curves here")
    args = parser.parse_args()

    truth = mi_schedule(args.steps)
    rhos = jnp.asarray(rho_of(truth), jnp.float32)
    key = jax.random.PRNGKey(args.seed)
    labels = [label for label, _, _ in ESTIMATORS]
    critics = args.critics.split(",")
    curves = {}  # (critic, data) -> (6, steps)
    for critic_kind in critics:
        out = np.asarray(run(critic_kind, args.width, args.depth, rhos, key))
        for d, data in enumerate(("gaussian", "cubic")):
            curves[critic_kind, data] = out[d]

    if args.npz:
        np.savez(args.npz, truth=truth, **{f"{c}_{d}": v for (c, d), v in curves.items()})

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
