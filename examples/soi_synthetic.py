"""SΩI on the synthetic Gaussian block systems: Ω against ρ, estimate vs closed form.

Bounoua, Franzese, Michiardi, "SΩI: Score-based O-INFORMATION Estimation", ICML 2024, §5.1
(``src/benchmark/synthetic_dataset.py``): 10 standard-normal variables in blocks [3, 3, 4],
every block redundant (equicorrelation ρ, Ω > 0) or synergistic (Gaussian XOR analogue,
Ω < 0), every variable replicated to ``dim`` i.i.d. coordinates (Ω scales × dim; the paper
uses dim 5..20, its results table dim 10). Published training size (``score_based.md`` §5):
100,000 samples, batch 256, 500 epochs (195,312 steps); the estimate averages 10 Monte-Carlo
passes over 100,000 test samples. Here the estimate is read off the training samples with
``mc_iter`` passes.

All values of ρ of one setting are trained as ONE compiled program (``jax.vmap`` over ρ).
Prints a table (Ω, TC, DTC estimate vs truth) and writes a figure of Ω vs ρ.

    python examples/soi_synthetic.py --dim 10 --n 100000 --scale 1   # published size
    python examples/soi_synthetic.py --dim 10 --rhos 0.5 --settings red --steps 20000
    python examples/soi_synthetic.py --quick                          # ~1-2 minutes
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import infoest
from infoest import gaussian
from infoest.tasks.blocks import block_cov, block_system

PUBLISHED_N, PUBLISHED_STEPS = 100_000, 500 * 100_000 // 256
SIZES = (3, 3, 4)


def blocks(setting: str, rho: float):
    return [(setting, k, rho) for k in SIZES]


def truth(setting: str, rho: float, dim: int) -> tuple[float, float, float]:
    """Closed-form (Ω, TC, DTC) in nats (every quantity scales with ``dim``)."""
    cov = block_cov(blocks(setting, rho))
    tc = float(gaussian.total_correlation_from_cov(cov))
    dtc = float(gaussian.dual_total_correlation_from_cov(cov))
    return dim * (tc - dtc), dim * tc, dim * dtc


def run_setting(setting: str, rhos, *, dim: int, n: int, steps: int, mc_iter: int, seed: int,
                learning_rate: float):
    """(Ω, TC, DTC, stderr of Ω) for every ρ of ``setting``, one vmapped compiled call."""
    draws = []
    for i, rho in enumerate(rhos):
        task = block_system(blocks(setting, rho), dim)
        sample = task.sample(jax.random.PRNGKey(seed + i), n)[0]
        draws.append(sample if dim == 1 else jnp.stack(sample, axis=1).reshape(n, -1))
    data = jnp.stack(draws)  # (R, n, 10 * dim), variable-major columns
    variables_of = (lambda z: z) if dim == 1 else (
        lambda z: [z[:, i * dim:(i + 1) * dim] for i in range(sum(SIZES))])

    def one(z, key):
        est = infoest.o_information(variables_of(z), method="soi", key=key, steps=steps,
                                    batch_size=256, learning_rate=learning_rate,
                                    mc_iter=mc_iter)  # EMA decay min(0.999, 1 − 10/steps)
        return est.value, est.diagnostics["tc"], est.diagnostics["dtc"], est.stderr

    keys = jax.random.split(jax.random.PRNGKey(seed + 100), len(rhos))
    t0 = time.perf_counter()
    out = jax.block_until_ready(jax.jit(jax.vmap(one))(data, keys))
    return np.stack([np.asarray(o) for o in out], axis=1), time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=10, help="coordinates per variable")
    parser.add_argument("--n", type=int, default=PUBLISHED_N)
    parser.add_argument("--steps", type=int, default=None, help="steps (overrides --scale)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help=f"fraction of the published {PUBLISHED_STEPS} steps")
    parser.add_argument("--rhos", default="0.1,0.3,0.5,0.7")
    parser.add_argument("--settings", default="red,syn")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--mc-iter", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="dim 1, n=5 000, 1 500 steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="soi_synthetic.png")
    args = parser.parse_args()
    dim, n = (1, 5000) if args.quick else (args.dim, args.n)
    steps = args.steps or (1500 if args.quick else max(1, round(args.scale * PUBLISHED_STEPS)))
    rhos = [float(r) for r in args.rhos.split(",")]
    settings = args.settings.split(",")

    results = {}
    print(f"SΩI, blocks {list(SIZES)} x dim {dim}, n={n}, steps={steps} (batch 256, "
          f"{steps * 256 / n:.0f} epochs), mc_iter={args.mc_iter}")
    print(f"{'setting':7s} {'rho':>5s} {'Ω true':>8s} {'Ω SΩI':>8s} {'± MC':>6s} {'rel err':>8s} "
          f"{'TC true':>8s} {'TC SΩI':>8s} {'DTC true':>8s} {'DTC SΩI':>8s} {'time/s':>7s}")
    for setting in settings:
        est, seconds = run_setting(setting, rhos, dim=dim, n=n, steps=steps,
                                   mc_iter=args.mc_iter, seed=args.seed, learning_rate=args.lr)
        results[setting] = est
        for rho, (omega, tc, dtc, se) in zip(rhos, est, strict=True):
            o_true, tc_true, dtc_true = truth(setting, rho, dim)
            print(f"{setting:7s} {rho:5.2f} {o_true:8.3f} {omega:8.3f} {se:6.3f} "
                  f"{(omega - o_true) / abs(o_true):+8.1%} {tc_true:8.3f} {tc:8.3f} "
                  f"{dtc_true:8.3f} {dtc:8.3f} {seconds / len(rhos):7.0f}")

    from _common import pyplot, save

    plt = pyplot()

    fig, axes = plt.subplots(1, len(settings), figsize=(4.5 * len(settings), 3.5), squeeze=False)
    fine = np.linspace(min(rhos), max(rhos), 50)
    for ax, setting in zip(axes[0], settings, strict=True):
        ax.plot(fine, [truth(setting, r, dim)[0] for r in fine], "k-", label="closed form")
        ax.plot(rhos, [truth(setting, r, dim)[0] for r in rhos], "kx")
        ax.errorbar(rhos, results[setting][:, 0], yerr=results[setting][:, 3], fmt="o",
                    label="SΩI")
        ax.set_xlabel("ρ")
        ax.set_ylabel("Ω [nats]")
        kind = "redundant" if setting == "red" else "synergistic"
        ax.set_title(f"{kind} blocks {list(SIZES)} × dim {dim}")
        ax.legend()
    save(fig, args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
