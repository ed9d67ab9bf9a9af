"""Information in every layer of a classifier during training, clean vs randomised labels.

Small-scale reproduction of the training-dynamics study of Liao, Liu et al., "Assessing Neural
Network Representations During Training Using Noise-Resilient Diffusion Spectral Entropy"
(arXiv:2312.04823): an MLP and a small CNN are trained on scikit-learn's 8×8 digits (1 797
images, shipped with the package; nothing is downloaded) with clean labels and with a fraction
of the training labels replaced by uniformly random classes, for 150 epochs: long enough
that every run fits the labels it is trained on (random ones included), so both phases of
noisy-label training show — generalisation first, memorisation after. At 12 log-spaced
epochs (0, 1, 2, 3, 4, 7, 12, 20, 33, 55, 91, 150 in the full setting: dense while the
representations change fast, sparse late) one jitted call evaluates, for every run (label
condition × seed) and every layer at once (`infoest.representations.layer_estimates`: layers
grouped by width, each group vmapped, no work on padding; one median bandwidth per layer
shared by the kernel estimators):

- DSE, diffusion spectral entropy of the layer on held-out images (nats);
- DSMI with the true class labels and with the inputs (the images spectrally clustered into
  10 groups, as the reference does for a continuous variable), by
  `infoest.representations.class_dsmi` (nats);
- matrix (von Neumann) entropy of the trace-normalised covariance (nats) and its effective
  rank exp(S) (error bar: exp(S) · stderr(S), delta method).

Every estimate carries its stderr (error bars in the figures). Training and estimate time per
epoch (wall and CPU seconds; the accuracy pass timed apart) are printed and written to the JSON
report.

The bandwidth is the median rule, recomputed per layer and epoch (the paper uses a fixed
σ = 10, which ties DSE to the scale of the activations; ``--sigma 10`` reproduces that).

    python examples/representations_during_training.py --quick        # ~30 s CPU, 2 CPU cores
    python examples/representations_during_training.py --out-dir docs/img   # full setting
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import Clock, choose, make_parser, print_timing, pyplot, save

from infoest import representations as rep
from infoest import spectral

SETTINGS = {
    "smoke": dict(epochs=2, seeds=1, n_eval=150, models=("mlp",), reps=2, noise=(0.0, 1.0),
                  eval_points=3),
    "quick": dict(epochs=60, seeds=1, n_eval=150, models=("mlp",), reps=3, noise=(0.0, 1.0),
                  eval_points=8),
    "full": dict(epochs=150, seeds=2, n_eval=150, models=("mlp", "cnn"), reps=3,
                 noise=(0.0, 0.5, 1.0), eval_points=12),
}
QUANTITIES = ("dse", "dsmi_y", "dsmi_x", "matrix", "erank")
LABELS = {"dse": "DSE (nats)", "dsmi_y": "DSMI(Z; Y) (nats)", "dsmi_x": "DSMI(Z; X) (nats)",
          "matrix": "matrix entropy (nats)", "erank": "effective rank exp(S)"}
BATCH = 64


# ----------------------------------------------------------------------------- data


def digits(n_test: int = 500):
    """Digits scaled to [0, 1], split once (seed 0) into train / test."""
    from sklearn.datasets import load_digits

    data = load_digits()
    order = np.random.default_rng(0).permutation(len(data.target))
    x = (data.data / 16.0).astype(np.float32)[order]
    y = data.target.astype(np.int32)[order]
    return (x[n_test:], y[n_test:]), (x[:n_test], y[:n_test])


def corrupt(key, y, fraction):
    """Replace a ``fraction`` of the labels by uniformly random classes (may keep the class)."""
    k_mask, k_lab = jax.random.split(key)
    flip = jax.random.uniform(k_mask, y.shape) < fraction
    return jnp.where(flip, jax.random.randint(k_lab, y.shape, 0, 10), y)


# ----------------------------------------------------------------------------- models


def _dense(key, fan_in, fan_out):
    return {"w": jax.random.normal(key, (fan_in, fan_out)) * jnp.sqrt(2.0 / fan_in),
            "b": jnp.zeros(fan_out)}


def mlp_init(key):
    sizes = (64, 128, 128, 64, 10)
    keys = jax.random.split(key, len(sizes) - 1)
    return [_dense(k, a, b) for k, a, b in zip(keys, sizes[:-1], sizes[1:], strict=True)]


def mlp_apply(params, x):
    """Activations of every layer: three ReLU hidden layers and the logits."""
    acts, h = [], x
    for i, layer in enumerate(params):
        h = h @ layer["w"] + layer["b"]
        h = jax.nn.relu(h) if i < len(params) - 1 else h
        acts.append(h)
    return acts


def cnn_init(key):
    k = jax.random.split(key, 4)
    return {"c1": jax.random.normal(k[0], (3, 3, 1, 16)) * jnp.sqrt(2.0 / 9),
            "c2": jax.random.normal(k[1], (3, 3, 16, 32)) * jnp.sqrt(2.0 / 144),
            "d1": _dense(k[2], 512, 64), "d2": _dense(k[3], 64, 10)}


def cnn_apply(params, x):
    """Activations: conv 3×3×16 (8×8), conv 3×3×32 stride 2 (4×4), dense 64, logits."""
    conv = jax.lax.conv_general_dilated
    dims = ("NHWC", "HWIO", "NHWC")
    h1 = jax.nn.relu(conv(x.reshape(-1, 8, 8, 1), params["c1"], (1, 1), "SAME",
                          dimension_numbers=dims))
    h2 = jax.nn.relu(conv(h1, params["c2"], (2, 2), "SAME", dimension_numbers=dims))
    h3 = jax.nn.relu(h2.reshape(h2.shape[0], -1) @ params["d1"]["w"] + params["d1"]["b"])
    return [h1, h2, h3, h3 @ params["d2"]["w"] + params["d2"]["b"]]


MODELS = {"mlp": (mlp_init, mlp_apply), "cnn": (cnn_init, cnn_apply)}


# ----------------------------------------------------------------------------- training


def make_epoch(apply, optimizer, x, n_batches):
    """One epoch of minibatch Adam (``lax.scan`` over batches) for one run."""

    def loss_fn(params, xb, yb):
        logits = apply(params, xb)[-1]
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    def epoch(params, opt_state, y, key):
        order = jax.random.permutation(key, x.shape[0])[: n_batches * BATCH]

        def step(carry, idx):
            p, s = carry
            loss, grads = jax.value_and_grad(loss_fn)(p, x[idx], y[idx])
            updates, s = optimizer.update(grads, s, p)
            return (optax.apply_updates(p, updates), s), loss

        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state),
                                                   order.reshape(n_batches, BATCH))
        return params, opt_state, jnp.mean(losses)

    return epoch


def eval_epochs(epochs: int, points: int | None = None, every: int | None = None) -> list:
    """Epochs after which the estimates are taken: ``points`` log-spaced epochs (0, then
    ``round(geomspace(1, epochs, points - 1))``, duplicates dropped: dense while the
    representations change fast, sparse late, as information-plane studies sample their
    checkpoints), or every ``every``-th epoch; the last epoch always."""
    if every:
        return sorted({*range(0, epochs + 1, every), epochs})
    if not points or points > epochs:
        return list(range(epochs + 1))
    logs = np.round(np.geomspace(1, epochs, points - 1)).astype(int)
    return sorted({0, *logs.tolist(), epochs})


def make_monitor(apply, data):
    """Test accuracy (true labels) and accuracy on the labels trained on: not estimates,
    timed apart from them."""
    x_test, y_test, x_train = data[3], data[4], data[5]

    def monitor(params, y_train):
        test_acc = jnp.mean(jnp.argmax(apply(params, x_test)[-1], -1) == y_test)
        fit_acc = jnp.mean(jnp.argmax(apply(params, x_train)[-1], -1) == y_train)
        return test_acc, fit_acc

    return monitor


def make_evaluate(apply, data, cfg, sigma):
    """All quantities for one run's parameters: every layer in one vmapped call."""
    x_ev, y_ev, x_codes, _, _, _, m_y, m_x = data

    def estimators():
        def dsmi(codes, m):
            return lambda z, k, s: rep.class_dsmi(z, codes, n_classes=10, max_class_size=m,
                                                  key=k, sigma=s, num_repetitions=cfg["reps"])

        # every estimator gets the layer's bandwidth s, resolved once (estimate_all(sigma=)).
        # DSE error bars: the first-order influence stderr (one eigendecomposition; about 0.8
        # of the true spread, docs/spectral.md "Error bars"), not the calibrated default
        # jackknife (20 more eigendecompositions per layer: it would triple the evaluation).
        return {"dse": lambda z, k, s: spectral.dse(z, sigma=s, stderr_method="influence",
                                                    throw=False),
                "dsmi_y": dsmi(y_ev, m_y), "dsmi_x": dsmi(x_codes, m_x),
                "matrix": lambda z, k, s: spectral.matrix_entropy(z, throw=False)}

    table = estimators()

    def evaluate(params, key):
        # Layers grouped by width (MLP 128, 128 | 64 | 10; CNN 1 024 | 512 | 64 | 10), each
        # group vmapped: no work on zero columns. Zero-padding to one width
        # (`rep.stack_layers`) is exact too and compiles one program, but pads the MLP's
        # logits to 128 columns: the evaluation costs 8 % more.
        out = rep.layer_estimates(apply(params, x_ev), table, key=key, sigma=sigma)
        res = {q: (out[q].value, out[q].stderr) for q in ("dse", "dsmi_y", "dsmi_x", "matrix")}
        erank = out["matrix"].diagnostics["effective_rank"]
        res["erank"] = (erank, erank * out["matrix"].stderr)  # delta method
        return res

    return evaluate


def eval_data(train, test, n_eval):
    """The held-out subset for the estimates, its input clusters and the largest classes."""
    (x_tr, _), (x_te, y_te) = train, test
    x_ev, y_ev = x_te[:n_eval], y_te[:n_eval]
    x_codes = np.asarray(spectral.spectral_clusters(jnp.asarray(x_ev), 10))
    m_y, m_x = int(np.bincount(y_ev).max()), int(np.bincount(x_codes, minlength=10).max())
    return (jnp.asarray(x_ev), jnp.asarray(y_ev), jnp.asarray(x_codes), jnp.asarray(x_te),
            jnp.asarray(y_te), jnp.asarray(x_tr), m_y, m_x)


def run_model(name, cfg, sigma, train, test, seed=0):
    """Train every run (noise level × seed, vmapped) and evaluate after every epoch."""
    init, apply = MODELS[name]
    (x_tr, y_tr) = train
    x_tr, y_tr = jnp.asarray(x_tr), jnp.asarray(y_tr)
    noise = jnp.repeat(jnp.asarray(cfg["noise"], jnp.float32), cfg["seeds"])
    runs = noise.shape[0]
    keys = jax.random.split(jax.random.PRNGKey(seed), runs)
    y_runs = jax.vmap(lambda k, f: corrupt(jax.random.fold_in(k, 1), y_tr, f))(keys, noise)
    params = jax.vmap(init)(keys)
    optimizer = optax.adam(1e-3)
    opt_state = jax.vmap(optimizer.init)(params)
    epoch = jax.jit(jax.vmap(make_epoch(apply, optimizer, x_tr, x_tr.shape[0] // BATCH)))
    data = eval_data(train, test, cfg["n_eval"])
    evaluate = jax.jit(jax.vmap(make_evaluate(apply, data, cfg, sigma)))
    monitor = jax.jit(jax.vmap(make_monitor(apply, data)))
    schedule = set(eval_epochs(cfg["epochs"], cfg.get("eval_points"), cfg.get("eval_every")))
    hist = {"values": [], "stderr": [], "test_acc": [], "fit_acc": [], "loss": [],
            "epoch": []}
    clock = Clock()
    for ep in range(cfg["epochs"] + 1):
        if ep > 0:
            ekeys = jax.vmap(lambda k, e=ep: jax.random.fold_in(k, 1000 + e))(keys)
            with clock("train"):
                params, opt_state, loss = jax.block_until_ready(
                    epoch(params, opt_state, y_runs, ekeys))
            hist["loss"].append(np.asarray(loss))
        if ep not in schedule:
            continue
        with clock("estimates"):
            res = jax.block_until_ready(evaluate(
                params, jax.vmap(lambda k, e=ep: jax.random.fold_in(k, e))(keys)))
        with clock("accuracy"):
            acc, fit = jax.block_until_ready(monitor(params, y_runs))
        hist["values"].append({q: np.asarray(res[q][0]) for q in QUANTITIES})
        hist["stderr"].append({q: np.asarray(res[q][1]) for q in QUANTITIES})
        hist["epoch"].append(ep)
        hist["test_acc"].append(np.asarray(acc))
        hist["fit_acc"].append(np.asarray(fit))
        print(f"[{name}] epoch {ep:3d}  test acc "
              + " ".join(f"{a:.3f}" for a in np.asarray(acc))
              + f"  train {clock.wall['train'][-1] if ep else 0:6.2f}s  estimates "
              f"{clock.wall['estimates'][-1]:6.2f}s", flush=True)
    hist["timing"] = clock.report("train", "estimates", epochs=cfg["epochs"])
    hist["timing"]["accuracy_per_call"] = clock.median("accuracy")
    hist["timing"]["eval_epochs"] = sorted(schedule)
    return hist


def _stack(hist, key):
    """(epochs + 1, runs, layers) array per quantity."""
    return {q: np.stack([h[q] for h in hist[key]]) for q in QUANTITIES}


def plot(name, hist, cfg, path, sigma="median"):
    """Rows: quantities and accuracy; columns: label-noise levels; lines: layers."""
    plt = pyplot()
    vals, errs = _stack(hist, "values"), _stack(hist, "stderr")
    acc, fit = np.stack(hist["test_acc"]), np.stack(hist["fit_acc"])
    noise, seeds = cfg["noise"], cfg["seeds"]
    layers = vals["dse"].shape[-1]
    epochs = np.asarray(hist["epoch"])
    fig, axes = plt.subplots(len(QUANTITIES) + 1, len(noise), figsize=(3.6 * len(noise), 13),
                             sharex=True, squeeze=False)
    colors = plt.cm.viridis(np.linspace(0, 0.9, layers))
    for j, f in enumerate(noise):
        runs = slice(j * seeds, (j + 1) * seeds)
        for i, q in enumerate(QUANTITIES):
            ax = axes[i, j]
            for layer in range(layers):
                _band(ax, epochs, vals[q][:, runs, layer], errs[q][:, runs, layer],
                      colors[layer], f"layer {layer + 1}" + (" (logits)" if layer == layers - 1
                                                             else ""))
            ax.set_ylabel(LABELS[q]) if j == 0 else None
        ax = axes[-1, j]
        _band(ax, epochs, acc[:, runs], None, "k", "test accuracy (true labels)")
        _band(ax, epochs, fit[:, runs], None, "tab:red", "train accuracy (labels trained on)")
        ax.set_ylim(0, 1.02)
        _epoch_axis(ax, epochs[-1])
        axes[0, j].set_title(f"{name.upper()}, {int(round(100 * f))} % labels randomised")
    axes[-1, 0].set_ylabel("accuracy")
    axes[0, 0].legend(fontsize=7)
    axes[-1, 0].legend(fontsize=7)
    fig.suptitle(f"digits, held-out n = {cfg['n_eval']}, σ = {sigma}, {seeds} seed(s) per "
                 f"condition, PRNG seed 0 (markers: evaluated epochs; line: mean; band: ±1 SD "
                 f"over seeds; bars: ±1 estimator stderr)", fontsize=9)
    save(fig, path)


def _epoch_axis(ax, last):
    """Epochs on a symmetric-log axis (linear below 1, so epoch 0 shows): the early epochs,
    where the representations change fastest, get as much room as the late ones."""
    ax.set_xscale("symlog", linthresh=1.0)
    ticks = [t for t in (0, 1, 2, 5, 10, 20, 50, 100, 200, 500) if t <= last]
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_xlabel("epoch (symmetric log scale)")


def _band(ax, x, runs_values, runs_err, color, label):
    """Mean over seeds, ±1 SD band over seeds, error bars from the stderr where finite."""
    mean = np.nanmean(runs_values, axis=1)
    ax.plot(x, mean, color=color, lw=1.3, marker="o", ms=2.5, label=label)
    if runs_values.shape[1] > 1:
        sd = np.nanstd(runs_values, axis=1)
        ax.fill_between(x, mean - sd, mean + sd, color=color, alpha=0.15, lw=0)
    if runs_err is not None:
        err = np.nanmean(runs_err, axis=1) if np.isfinite(runs_err).any() else runs_err[:, 0]
        ok = np.isfinite(err)
        if ok.any():
            ax.errorbar(x[ok], mean[ok], yerr=err[ok], fmt="none", ecolor=color, lw=0.8,
                        capsize=1.5)


def summary(name, hist, cfg):
    """Numbers quoted in the docs: first/last epoch per condition and layer, timings."""
    vals, errs = _stack(hist, "values"), _stack(hist, "stderr")
    seeds = cfg["seeds"]
    out = {"timing": hist["timing"]}
    for j, f in enumerate(cfg["noise"]):
        runs = slice(j * seeds, (j + 1) * seeds)
        cond = {q: {"first": vals[q][0, runs].mean(0).round(3).tolist(),
                    "last": vals[q][-1, runs].mean(0).round(3).tolist(),
                    "max": vals[q][:, runs].mean(1).max(0).round(3).tolist(),
                    "min": vals[q][:, runs].mean(1).min(0).round(3).tolist(),
                    "argmin_epoch": np.asarray(hist["epoch"])[
                        vals[q][:, runs].mean(1).argmin(0)].tolist(),
                    "stderr_last": np.nanmean(errs[q][-1, runs], 0).round(4).tolist()}
                for q in QUANTITIES}
        cond["test_acc_last"] = float(np.stack(hist["test_acc"])[-1, runs].mean())
        cond["fit_acc_last"] = float(np.stack(hist["fit_acc"])[-1, runs].mean())
        out[f"noise_{f:g}"] = cond
    return out


def main(argv=None) -> dict:
    parser = make_parser(__doc__, quick_help="MLP, 1 seed, 60 epochs",
                         smoke_help="2 epochs (CI)")
    parser.add_argument("--sigma", default="median", help="bandwidth: 'median' or a number")
    parser.add_argument("--epochs", type=int, help="override the setting's epochs")
    parser.add_argument("--models", help="comma-separated subset of mlp,cnn")
    parser.add_argument("--eval-every", type=int,
                        help="estimate every k epochs (default: log-spaced epochs)")
    parser.add_argument("--eval-points", type=int, help="number of log-spaced evaluations")
    parser.add_argument("--n-eval", type=int, help="held-out points for the estimates")
    args = parser.parse_args(argv)
    cfg = choose(SETTINGS, args)
    if args.eval_every:
        cfg["eval_every"] = args.eval_every
    if args.eval_points:
        cfg["eval_points"] = args.eval_points
    if args.n_eval:
        cfg["n_eval"] = args.n_eval
    if args.epochs:
        cfg["epochs"] = args.epochs
    if args.models:
        cfg["models"] = tuple(args.models.split(","))
    sigma = args.sigma if args.sigma in ("median", "sqrt_dim") else float(args.sigma)
    train, test = digits()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {}
    tag = "" if sigma == "median" else f"_sigma{args.sigma}"
    for name in cfg["models"]:
        hist = run_model(name, cfg, sigma, train, test)
        report[name] = summary(name, hist, cfg)
        plot(name, hist, cfg, out_dir / f"repr_training_{name}{tag}.png", sigma)
        print_timing(name, report[name]["timing"])
    (out_dir / f"repr_training{tag}.json").write_text(json.dumps(report, indent=1))
    print(f"wrote {out_dir}/repr_training_*{tag}.png and repr_training{tag}.json")
    return report


if __name__ == "__main__":
    main()
