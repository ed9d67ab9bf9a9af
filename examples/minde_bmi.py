"""MINDE on BMI-style tasks: dense and sparse multinormal 5+5, Student-t 2+2.

Franzese, Bounoua, Michiardi, "MINDE", ICLR 2024, §5.1 (the "Beyond Normal" benchmark of
Czyż et al., NeurIPS 2023). Published protocol for d_x ≤ 5 (``score_based.md`` §5): 100,000
training samples, batch 128, 300 epochs (234,375 steps), Adam lr 1e-3, EMA 0.999 of the
weights, importance-sampled t, MINDE-C; 10 Monte-Carlo passes over 10,000 test samples
(100,000 (t, ε) draws). Here the estimate is read off the training samples with ``mc_iter``
passes (``mc_iter=1`` over 100,000 rows is the same number of draws).

Tasks of equal shape (the two 5+5 multinormals; the two 2+2 Student-t) are trained as ONE
compiled program, ``jax.vmap`` over the task. Prints a table (MINDE-C, MINDE-C(σ), truth,
error, wall time) and writes a bar chart.

    python examples/minde_bmi.py                       # published size (hours on 2 CPU cores)
    python examples/minde_bmi.py --scale 0.2           # 1/5 of the steps
    python examples/minde_bmi.py --quick               # ~1-2 minutes: n=10k, 2 000 steps
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import infoest
from infoest import tasks

PUBLISHED_N, PUBLISHED_STEPS = 100_000, 300 * 100_000 // 128


def task_groups():
    """Tasks grouped by shape (each group is one vmapped fit)."""
    return [
        [tasks.multinormal_dense(5, 5), tasks.multinormal_sparse(5, 5)],
        [tasks.student_t(2, 2, 1.0), tasks.student_t(2, 2, 2.0)],
    ]


def run_group(group, *, n: int, steps: int, mc_iter: int, seed: int):
    """MINDE-C and MINDE-C(σ) for every task of ``group`` (same shapes) in one compiled call."""
    data = [t.sample(k, n) for t, k in zip(group, jax.random.split(jax.random.PRNGKey(seed),
                                                                     len(group)), strict=True)]
    xs = jnp.stack([d[0] for d in data])
    ys = jnp.stack([d[1] for d in data])

    def one(x, y, key):
        est = infoest.mutual_information(x, y, method="minde", key=key, steps=steps,
                                         batch_size=128, learning_rate=1e-3, ema_decay=0.999,
                                         schedule="constant",  # the published protocol
                                         mc_iter=mc_iter)
        return est.value, est.diagnostics["mi_sigma"], est.stderr

    keys = jax.random.split(jax.random.PRNGKey(seed + 1), len(group))
    t0 = time.perf_counter()
    out = jax.block_until_ready(jax.jit(jax.vmap(one))(xs, ys, keys))
    return [np.asarray(o) for o in out], time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=PUBLISHED_N, help="samples per task")
    parser.add_argument("--steps", type=int, default=None, help="steps (overrides --scale)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help=f"fraction of the published {PUBLISHED_STEPS} steps")
    parser.add_argument("--mc-iter", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="n=10 000, 2 000 steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="minde_bmi.png")
    args = parser.parse_args()
    n = 10_000 if args.quick else args.n
    steps = args.steps or (2000 if args.quick else max(1, round(args.scale * PUBLISHED_STEPS)))

    rows = []
    for group in task_groups():
        (est, est_sigma, se), seconds = run_group(group, n=n, steps=steps, mc_iter=args.mc_iter,
                                                  seed=args.seed)
        for i, task in enumerate(group):
            rows.append((task.name, task.value, float(est[i]), float(est_sigma[i]),
                         float(se[i]), seconds / len(group)))

    print(f"MINDE-C, n={n}, steps={steps} (batch 128, {steps * 128 / n:.0f} epochs), "
          f"mc_iter={args.mc_iter}")
    print(f"{'task':32s} {'truth':>7s} {'MINDE-C':>8s} {'± MC':>6s} {'C(σ)':>7s} {'error':>7s} "
          f"{'time/s':>7s}")
    for name, truth, est, est_sigma, se, seconds in rows:
        print(f"{name:32s} {truth:7.3f} {est:8.3f} {se:6.3f} {est_sigma:7.3f} {est - truth:+7.3f} "
              f"{seconds:7.0f}")

    from _common import pyplot, save

    plt = pyplot()

    fig, ax = plt.subplots(figsize=(7, 3.5))
    pos = np.arange(len(rows))
    ax.bar(pos - 0.25, [r[1] for r in rows], 0.25, label="truth", color="0.6")
    ax.bar(pos, [r[2] for r in rows], 0.25, yerr=[r[4] for r in rows], label="MINDE-C")
    ax.bar(pos + 0.25, [r[3] for r in rows], 0.25, label="MINDE-C(σ)")
    ax.set_xticks(pos, [r[0] for r in rows], rotation=15, fontsize=8)
    ax.set_ylabel("I(X; Y) [nats]")
    ax.set_title(f"MINDE on BMI tasks (n={n}, {steps} steps)")
    ax.legend()
    save(fig, args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
