"""TREET on the Gaussian channel with feedback (the capacity benchmark of the TREET paper).

Y_i = X_i + Z_i with AR(1) noise Z_i = α Z_{i−1} + ε_i (α = 0.5, unit innovations) and output
feedback. The input is the capacity-achieving linear feedback scheme of
``infoest.tasks.processes.feedback_channel`` (power P), so the directed information rate
I(X → Y) equals the feedback capacity C = −ln x₀, P x² = (1 − x²)/(1 + |α| x)² (Kim; 0 dB:
0.496815 nats). TREET estimates it with ``delay=0`` (x_t enters y_t). Panel 1: estimate vs
closed form over SNR; panel 2: training curve at 0 dB.

    python examples/treet_channel.py [--quick] [--out treet_channel.png]
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
    parser.add_argument("--quick", action="store_true", help="T = 5 000, 3 SNRs, 300 steps")
    parser.add_argument("--out", default="treet_channel.png")
    args = parser.parse_args()
    n = 5_000 if args.quick else 20_000
    snr_db = np.array([-5.0, 0.0, 5.0]) if args.quick else np.array([-10, -5, 0, 5, 10.0])
    history = 4
    kw = dict(history=history, delay=0, steps=300 if args.quick else 2000, batch_size=256,
              width=32, ff_width=64, learning_rate=2e-3)
    rows, curve = [], None
    t0 = time.perf_counter()
    for i, db in enumerate(tqdm(snr_db, desc="SNR")):
        task = processes.feedback_channel(power=10 ** (db / 10), alpha=0.5, noise="ar",
                                          history=history)
        x, y = task.sample(jax.random.PRNGKey(i), n)
        est = infoest.transfer_entropy(x, y, method="treet", key=jax.random.PRNGKey(10 + i),
                                       **kw)
        rows.append((db, task.params["capacity"], task.value, float(est)))
        if db == 0:
            curve = np.asarray(est.diagnostics["train_curve"])
    elapsed = time.perf_counter() - t0

    db, cap, fin, val = map(np.array, zip(*rows, strict=True))
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].plot(db, cap, "k-", label="feedback capacity −ln x₀")
    axes[0].plot(db, val, "^", ms=8, label=f"TREET (memory {history})")
    axes[0].set_xlabel("SNR (dB)")
    axes[0].set_ylabel("nats per channel use")
    axes[0].set_title(f"AR(1) noise α = 0.5, T = {n}")
    axes[0].legend()
    axes[0].grid(alpha=0.3)
    if curve is not None:
        smooth = np.convolve(curve, np.ones(50) / 50, mode="valid")
        axes[1].plot(curve, color="0.8", lw=0.5, label="minibatch DV_XY − DV_Y")
        axes[1].plot(np.arange(smooth.size) + 49, smooth, label="running mean (50)")
        axes[1].axhline(cap[db == 0][0], color="k", label="capacity")
        axes[1].set_ylim(-0.2, 1.0)
        axes[1].set_xlabel("step")
        axes[1].set_title("training at 0 dB")
        axes[1].legend()
        axes[1].grid(alpha=0.3)
    save(fig, args.out, dpi=120)
    print(f"wrote {args.out} ({elapsed:.0f} s)")
    print(f"{'SNR dB':>7} {'capacity':>9} {'TE(m=4)':>9} {'TREET':>8} {'rel err':>8}")
    for d, c, f, v in rows:
        print(f"{d:7.1f} {c:9.5f} {f:9.5f} {v:8.5f} {(v - c) / c:8.1%}")


if __name__ == "__main__":
    main()
