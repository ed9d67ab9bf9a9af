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
        return x, jnp.where(cubic, y**3, y), step

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


def loss(critic, batch, key, log_ma, which, tau, member=None, record=None):
    """``-bound`` for the bound number ``which`` (traced), so every estimator is one program.

    All four bounds are cheap functions of the one 64×64 score matrix; each is computed from
    statistics that carry a gradient only when that bound is selected (``jnp.where`` with a
    ``stop_gradient`` copy), so an unselected bound that overflows (NWJ's ``exp`` of large
    scores) cannot turn the selected bound's gradient into NaN (0 · inf). MINE's moving average
    (rate 0.01) is the explicit state; it is only advanced when MINE is selected.
    ``record(member, step, value)``, if given, receives every step's value on the host
    (``jax.debug.callback``), so a long run's curves can be saved while it runs.
    """
    del key
    x, y, step = batch
    stats = bounds.score_stats(bounds.score_matrix(critic, x, y), tau=tau)

    def only_if(name):  # the statistics, differentiable only for the selected bound
        keep = which == _BOUNDS.index(name)
        return jax.tree_util.tree_map(
            lambda a: jnp.where(keep, a, jax.lax.stop_gradient(a)), stats)

    mine_value, new_ma = bounds.mine(only_if("mine"), log_ma, rate=0.01)
    values = jnp.stack([bounds.smile(only_if("smile")), bounds.infonce(only_if("infonce")),
                        bounds.nwj(only_if("nwj")), mine_value])
    value = values[which]
    if record is not None:
        jax.debug.callback(record, member, step, jax.lax.stop_gradient(value))
    return -value, value, jnp.where(which == _BOUNDS.index("mine"), new_ma, log_ma)


class Recorder:
    """Host-side buffer of the per-step values, dumped to ``path`` (npz) every ``every`` steps,
    so an interrupted run still leaves the curves of the steps it completed (NaN after)."""

    def __init__(self, n_members: int, steps: int, path: str | None, every: int = 500,
                 extra: dict | None = None):
        self.values = np.full((n_members, steps), np.nan, np.float32)
        self.path, self.every, self.extra = path, every, extra or {}
        self.started = time.time()

    def __call__(self, member, step, value):
        member, step = int(member), int(step)
        self.values[member, step] = float(value)
        if member == 0 and (step + 1) % self.every == 0:
            done = step + 1
            rate = done / (time.time() - self.started)
            left = (self.values.shape[1] - done) / rate
            print(f"  step {done}/{self.values.shape[1]} ({rate:.1f} steps/s, "
                  f"~{left / 60:.0f} min left)", flush=True)
            if self.path:
                np.savez(self.path, values=self.values, steps_done=done, **self.extra)


def run(critic_kind: str, width: int, depth: int, rhos, key, stream: str | None = None):
    """Per-step estimates, shape (2, len(ESTIMATORS), steps): Gaussian and cubic data.

    ONE compiled ``fit``, ``jax.vmap``-ed over the 2 × 6 (data, estimator) configurations:
    the data kind, the bound index and τ are traced arrays. With ``stream`` the curves are
    also written to that npz file every 500 steps while training runs.
    """
    steps = rhos.shape[0]
    kc, kf = jax.random.split(key)
    if critic_kind == "joint":
        critic = ConcatCritic(DIM, DIM, (width,) * depth, key=kc)
    else:
        critic = SeparableCritic(DIM, DIM, (width,) * depth, 32, key=kc)
    n = len(ESTIMATORS)
    record = Recorder(2 * n, steps, stream) if stream else None

    def one(member, cubic, which, tau):
        res = fit(lambda c, b, k, s: loss(c, b, k, s, which, tau, member, record), critic,
                  make_sampler(rhos, cubic), key=kf, steps=steps,
                  optimizer=optax.adam(5e-4), state=jnp.array(-jnp.inf), throw=False)
        return res.train_aux

    member = jnp.arange(2 * n)
    cubic = jnp.repeat(jnp.array([False, True]), n)
    which = jnp.tile(jnp.array([_BOUNDS.index(b) for _, b, _ in ESTIMATORS]), 2)
    taus = jnp.tile(jnp.array([t for _, _, t in ESTIMATORS], jnp.float32), 2)
    t0 = time.time()
    compiled = jax.jit(jax.vmap(one)).lower(member, cubic, which, taus).compile()
    t1 = time.time()
    if record is not None:
        record.started = t1
    out = jax.block_until_ready(compiled(member, cubic, which, taus))
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
    parser.add_argument("--stream", default=None,
                        help="write partial curves to STREAM_<critic>.npz while training")
    parser.add_argument("--from-npz", default=None,
                        help="skip training: tabulate and plot the curves saved by --npz or "
                             "--stream (comma-separated files; NaN where not yet run)")
    args = parser.parse_args()

    truth = mi_schedule(args.steps)
    rhos = jnp.asarray(rho_of(truth), jnp.float32)
    key = jax.random.PRNGKey(args.seed)
    labels = [label for label, _, _ in ESTIMATORS]
    critics = args.critics.split(",")
    curves = {}  # (critic, data) -> (6, steps)
    if args.from_npz:
        critics = []
        for path in args.from_npz.split(","):
            f = np.load(path)
            if "values" in f:  # a --stream file: one critic, (12, steps)
                kind = path.rsplit("_", 1)[-1].removesuffix(".npz")
                critics.append(kind)
                v = f["values"].reshape(2, len(labels), -1)
                print(f"{path}: {int(f['steps_done'])} of {v.shape[-1]} steps done")
                curves[kind, "gaussian"], curves[kind, "cubic"] = v[0], v[1]
            else:
                for name in f.files:
                    if name != "truth":
                        kind, data = name.split("_")
                        critics += [kind] if kind not in critics else []
                        curves[kind, data] = f[name]
    for critic_kind in critics if not args.from_npz else []:
        stream = f"{args.stream}_{critic_kind}.npz" if args.stream else None
        out = np.asarray(run(critic_kind, args.width, args.depth, rhos, key, stream))
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

    from _common import pyplot, save

    plt = pyplot()

    cols = [(c, d) for c in critics for d in ("gaussian", "cubic")]
    fig, axes = plt.subplots(len(labels), len(cols), figsize=(4 * len(cols), 2.2 * len(labels)),
                             sharex=True, sharey=True, squeeze=False)
    steps = np.arange(truth.size)
    for j, col in enumerate(cols):
        for i, label in enumerate(labels):
            ax = axes[i, j]
            raw = curves[col][i]
            ax.plot(steps, np.clip(raw, -2, 14), color="0.8", lw=0.3)
            smooth = ema(raw)
            smooth[~np.isfinite(raw)] = np.nan  # not run yet (partial --stream) or diverged
            ax.plot(steps, smooth, color="C0", lw=1.0)
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
                 f"width {args.width}\n(grey: raw, blue: EMA 200; dashed: log {BATCH})",
                 fontsize=9)
    save(fig, args.out, dpi=110)
    print(f"\nsaved {args.out}")


if __name__ == "__main__":
    main()
