"""Transfer entropy on the coupled AR(1) process for growing coupling c: estimate vs truth.

X_t = 0.5 X_{t−1} + e_t,  Y_t = 0.5 Y_{t−1} + c X_{t−1} + e′_t (unit noise), one-step histories.
Truth (closed form, ``infoest.tasks.processes.coupled_ar1_te``): TE(X→Y) = ½ ln(1 + c²(S_xx −
S_xy²/S_yy)), TE(Y→X) = 0. Methods: Gaussian, KSG (k = 4) and TREET, both directions.

    python examples/te_coupled_ar.py [--quick] [--out te_coupled_ar.png]
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np
from _common import pyplot, save
from tqdm import tqdm

import infoest
from infoest.tasks import processes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="T = 3 000, 3 couplings, short TREET")
    parser.add_argument("--out", default="te_coupled_ar.png")
    args = parser.parse_args()
    n = 3_000 if args.quick else 10_000
    couplings = np.linspace(0.0, 1.0, 3 if args.quick else 6)
    treet_kw = dict(history=1, steps=200 if args.quick else 800, batch_size=256, width=16,
                    ff_width=32)
    methods = {"gaussian": {}, "ksg": {"k": 4}, "treet": treet_kw}
    est = {(m, d): [] for m in methods for d in ("xy", "yx")}
    truth = [processes.coupled_ar1_te(c=c) for c in couplings]
    t0 = time.perf_counter()
    for i, c in enumerate(tqdm(couplings, desc="coupling")):
        x, y = processes.coupled_ar1(c=float(c)).sample(jax.random.PRNGKey(i), n)
        for m, kw in methods.items():
            extra = {"key": jax.random.PRNGKey(100 + i)} if m == "treet" else {}
            est[m, "xy"].append(float(infoest.transfer_entropy(x, y, method=m, **kw, **extra)))
            est[m, "yx"].append(float(infoest.transfer_entropy(y, x, method=m, **kw, **extra)))
    elapsed = time.perf_counter() - t0

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    style = {"gaussian": "o", "ksg": "s", "treet": "^"}
    for ax, d, title, true in ((axes[0], "xy", "TE(X → Y)", truth),
                               (axes[1], "yx", "TE(Y → X)", np.zeros_like(couplings))):
        ax.plot(couplings, true, "k-", label="closed form")
        for m in methods:
            ax.plot(couplings, est[m, d], style[m], ms=6, alpha=0.8, label=m)
        ax.set_title(f"{title}, T = {n}")
        ax.set_xlabel("coupling c")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("nats")
    axes[0].legend()
    save(fig, args.out, dpi=120)
    print(f"wrote {args.out} ({elapsed:.0f} s)")
    print(f"{'c':>5} {'truth':>8} " + " ".join(f"{m + ' ' + d:>12}" for m in methods
                                               for d in ("xy", "yx")))
    for i, c in enumerate(couplings):
        row = " ".join(f"{est[m, d][i]:12.4f}" for m in methods for d in ("xy", "yx"))
        print(f"{c:5.2f} {truth[i]:8.4f} {row}")
    for m in methods:
        err = np.max(np.abs(np.array(est[m, "xy"]) - truth))
        print(f"{m}: max |error| X→Y {err:.4f}, max |TE(Y→X)| {np.max(np.abs(est[m, 'yx'])):.4f}")


if __name__ == "__main__":
    main()
