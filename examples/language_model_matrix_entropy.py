"""Matrix entropy, Diff-eRank and UNComp's per-head key entropy of small language models.

Small-scale reproduction of the matrix-entropy evaluation of language models:

- Wei et al., "Diff-eRank: A Novel Rank-Based Metric for Evaluating Large Language Models",
  NeurIPS 2024 (v1: "Large Language Model Evaluation via Matrix Entropy"): the matrix entropy
  S of a layer's token representations (centred, rows L2-normalised, von Neumann entropy of
  the trace-normalised covariance; averaged over sequences), eRank = exp(S), and
  Diff-eRank = eRank(untrained model) − eRank(trained model), same architecture and inputs;
- Xiong et al., "UNComp" (arXiv:2410.03090): the truncated matrix entropy
  −Σ_{i ≤ k} λ_i log λ_i / log d_head of every attention head's keys, used to rank heads and
  layers for KV-cache compression.

Three character-level transformers (pre-LayerNorm, learned positions) are trained here on
Python's own documentation text (`pydoc_data.topics`, shipped with CPython; nothing is
downloaded). At checkpoints, one jitted call computes, on held-out text, every layer's matrix
entropy (vmapped over layers and sequences) and every head's truncated key entropy (vmapped
over layers × heads × sequences).

    python examples/language_model_matrix_entropy.py --quick
    python examples/language_model_matrix_entropy.py --out-dir docs/img
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import Clock, choose, make_parser, print_timing, pyplot, save

from infoest import spectral

SIZES = {"S": dict(d=32, layers=2, heads=2), "M": dict(d=64, layers=2, heads=4),
         "L": dict(d=96, layers=3, heads=4)}
SETTINGS = {
    "smoke": dict(steps=4, checkpoints=2, sizes=("S",), n_eval=8, seq=64, batch=16),
    "quick": dict(steps=300, checkpoints=4, sizes=("S", "M"), n_eval=16, seq=64, batch=32),
    "full": dict(steps=800, checkpoints=5, sizes=("S", "M", "L"), n_eval=32, seq=64,
                 batch=16),
}
TOP_K = 8  # UNComp truncation: top-k eigenvalues of each head's key covariance


# ----------------------------------------------------------------------------- data


def corpus(held_out: float = 0.1):
    """Python's topic documentation as integer characters; the last 10 % held out."""
    from pydoc_data.topics import topics

    text = "\n".join(topics[k] for k in sorted(topics))
    chars = sorted(set(text))
    lookup = {c: i for i, c in enumerate(chars)}
    ids = np.fromiter((lookup[c] for c in text), np.int32, len(text))
    cut = int(len(ids) * (1 - held_out))
    return ids[:cut], ids[cut:], len(chars)


def eval_windows(ids, n, seq):
    """``n`` evenly spaced held-out windows of ``seq + 1`` characters."""
    starts = np.linspace(0, len(ids) - seq - 2, n).astype(int)
    return jnp.asarray(np.stack([ids[s:s + seq + 1] for s in starts]))


# ----------------------------------------------------------------------------- model


def init(key, vocab, seq, d, layers, heads):
    keys = iter(jax.random.split(key, 4 + 6 * layers))
    dense = lambda a, b: jax.random.normal(next(keys), (a, b)) / jnp.sqrt(a)  # noqa: E731
    blocks = [{"q": dense(d, d), "k": dense(d, d), "v": dense(d, d),
               "o": dense(d, d) / jnp.sqrt(2.0 * layers), "up": dense(d, 4 * d),
               "down": dense(4 * d, d) / jnp.sqrt(2.0 * layers),
               "ln1": jnp.ones(d), "ln2": jnp.ones(d)} for _ in range(layers)]
    return {"emb": jax.random.normal(next(keys), (vocab, d)) * 0.1,
            "pos": jax.random.normal(next(keys), (seq, d)) * 0.1,
            "blocks": blocks, "ln": jnp.ones(d), "out": dense(d, vocab)}


def _norm(x, g):
    x = x - x.mean(-1, keepdims=True)
    return g * x / jnp.sqrt((x * x).mean(-1, keepdims=True) + 1e-5)


def _attention(block, h, heads):
    """Causal multi-head self-attention; returns the output and the keys (T, H, d_head)."""
    t, d = h.shape
    split = lambda a: a.reshape(t, heads, d // heads)  # noqa: E731
    q, k, v = split(h @ block["q"]), split(h @ block["k"]), split(h @ block["v"])
    scores = jnp.einsum("thd,shd->hts", q, k) / jnp.sqrt(d // heads)
    scores = jnp.where(jnp.tril(jnp.ones((t, t), bool)), scores, -1e30)
    out = jnp.einsum("hts,shd->thd", jax.nn.softmax(scores, -1), v).reshape(t, d)
    return out @ block["o"], k


def forward(params, tokens, heads):
    """Logits (T, V), hidden states after embedding and each block (L + 1, T, d), keys
    (L, H, T, d_head) for one sequence ``tokens: (T,)``."""
    h = params["emb"][tokens] + params["pos"][: tokens.shape[0]]
    hidden, keys = [h], []
    for block in params["blocks"]:
        att, k = _attention(block, _norm(h, block["ln1"]), heads)
        h = h + att
        h = h + jax.nn.gelu(_norm(h, block["ln2"]) @ block["up"]) @ block["down"]
        hidden.append(h)
        keys.append(jnp.swapaxes(k, 0, 1))
    logits = _norm(h, params["ln"]) @ params["out"]
    return logits, jnp.stack(hidden), jnp.stack(keys)


def loss_fn(params, windows, heads):
    """Mean next-character cross-entropy (nats per character) over ``windows: (B, T + 1)``."""
    logits = jax.vmap(lambda w: forward(params, w[:-1], heads)[0])(windows)
    return optax.softmax_cross_entropy_with_integer_labels(logits, windows[:, 1:]).mean()


# ----------------------------------------------------------------------------- measures


def measures(params, windows, heads):
    """Everything measured on held-out ``windows: (N, T + 1)``, in one call.

    Returns per layer (embedding + blocks): mean and standard error over sequences of the
    matrix entropy S (nats); pooled S / log d over all N·T tokens; per layer × head: the
    truncated (top-``TOP_K``) and full key entropies / log d_head, averaged over sequences;
    and the held-out loss (nats per character).
    """
    logits, hidden, keys = jax.vmap(lambda w: forward(params, w[:-1], heads))(windows)
    n, layers1, t, d = hidden.shape
    per_seq = jax.vmap(jax.vmap(lambda z: spectral.matrix_entropy(z).value))(hidden)
    pooled = jax.vmap(lambda z: spectral.matrix_entropy(z, normalize="log_d"))(
        jnp.swapaxes(hidden, 0, 1).reshape(layers1, n * t, d))

    def head(z):
        trunc = spectral.truncated_entropy(z, k=TOP_K, normalize="log_d").value
        return trunc, spectral.matrix_entropy(z, normalize="log_d").value

    trunc, full = jax.vmap(jax.vmap(jax.vmap(head)))(keys)  # (N, L, H)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, windows[:, 1:]).mean()
    return {"S": per_seq.mean(0), "S_se": per_seq.std(0, ddof=1) / jnp.sqrt(n),
            "S_pooled_norm": pooled.value, "S_pooled_norm_se": pooled.stderr,
            "key_trunc": trunc.mean(0), "key_full": full.mean(0),
            "key_trunc_se": trunc.std(0, ddof=1) / jnp.sqrt(n),
            "key_full_se": full.std(0, ddof=1) / jnp.sqrt(n),
            "loss": loss}


def make_train_chunk(optimizer, train_ids, cfg, heads, steps):
    """``steps`` Adam steps on random windows (``lax.scan``); returns the mean loss."""
    seq, batch = cfg["seq"], cfg["batch"]
    data = jnp.asarray(train_ids)

    def chunk(params, opt_state, key):
        def step(carry, k):
            p, s = carry
            starts = jax.random.randint(k, (batch,), 0, data.shape[0] - seq - 1)
            windows = jax.vmap(lambda a: jax.lax.dynamic_slice(data, (a,), (seq + 1,)))(starts)
            loss, grads = jax.value_and_grad(loss_fn)(p, windows, heads)
            updates, s = optimizer.update(grads, s, p)
            return (optax.apply_updates(p, updates), s), loss

        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state),
                                                   jax.random.split(key, steps))
        return params, opt_state, losses.mean()

    return jax.jit(chunk)


def run_size(name, cfg, data, seed=0):
    """Train one model size; measure at step 0 and at every checkpoint."""
    train_ids, held, vocab = data
    size = SIZES[name]
    params = init(jax.random.PRNGKey(seed), vocab, cfg["seq"], **size)
    optimizer = optax.adam(3e-3 if size["d"] <= 64 else 2e-3)
    opt_state = optimizer.init(params)
    per_chunk = cfg["steps"] // cfg["checkpoints"]
    chunk = make_train_chunk(optimizer, train_ids, cfg, size["heads"], per_chunk)
    measure = jax.jit(lambda p: measures(p, held, size["heads"]))
    hist = {"step": [], "train_loss": [np.nan]}
    clock = Clock()
    for c in range(cfg["checkpoints"] + 1):
        if c > 0:
            with clock("train"):
                params, opt_state, loss = jax.block_until_ready(
                    chunk(params, opt_state, jax.random.PRNGKey(1000 * seed + c)))
            hist["train_loss"].append(float(loss))
        with clock("estimates"):
            out = jax.tree.map(np.asarray, jax.block_until_ready(measure(params)))
        hist["step"].append(c * per_chunk)
        for k, v in out.items():
            hist.setdefault(k, []).append(v)
        print(f"[{name}] step {c * per_chunk:5d}  held-out loss {float(out['loss']):.3f}  "
              f"S per layer " + " ".join(f"{s:.2f}" for s in out["S"]), flush=True)
    n_params = sum(int(np.prod(a.shape)) for a in jax.tree.leaves(params))
    hist = {k: np.asarray(v) for k, v in hist.items()}
    hist["n_params"] = n_params
    # "epoch" = the training chunk between two checkpoints (per_chunk steps)
    hist["timing"] = clock.report("train", "estimates", epochs=cfg["checkpoints"])
    hist["timing"]["steps_per_chunk"] = per_chunk
    return hist


def erank(hist):
    """eRank = exp(mean S) per checkpoint and layer, with its delta-method stderr."""
    e = np.exp(hist["S"])
    return e, e * hist["S_se"]


# ----------------------------------------------------------------------------- figures


def plot_erank(results, cfg, path):
    """Diff-eRank vs held-out loss and vs depth; loss and pooled entropy vs step."""
    plt = pyplot()
    fig, ax = plt.subplots(1, 4, figsize=(16, 3.8))
    colors = dict(zip(SIZES, ("tab:blue", "tab:orange", "tab:green"), strict=True))
    for name, h in results.items():
        e, se = erank(h)
        diff, diff_se = e[0] - e, np.hypot(se[0], se)
        label = f"{name}: d={SIZES[name]['d']}, {SIZES[name]['layers']} blocks, " \
                f"{h['n_params'] / 1e3:.0f}k params"
        c = colors[name]
        ax[0].errorbar(h["loss"], diff[:, -1], yerr=diff_se[:, -1], marker="o", color=c,
                       capsize=2, label=label)
        depth = np.arange(e.shape[1]) / (e.shape[1] - 1)
        ax[1].errorbar(depth, diff[-1], yerr=diff_se[-1], marker="o", color=c, capsize=2)
        ax[2].plot(h["step"], h["loss"], marker="o", color=c, label=f"{name} held-out")
        ax[2].plot(h["step"][1:], h["train_loss"][1:], ls="--", color=c, label=f"{name} train")
        ax[3].errorbar(h["step"], h["S_pooled_norm"][:, -1], yerr=h["S_pooled_norm_se"][:, -1],
                       marker="o", color=c, capsize=2)
    ax[0].set(xlabel="held-out loss (nats / character)",
              ylabel="Diff-eRank, last block (untrained − trained)")
    ax[0].invert_xaxis()
    ax[1].set(xlabel="relative depth (0 = embedding, 1 = last block)",
              ylabel="Diff-eRank after training")
    ax[2].set(xlabel="training step", ylabel="loss (nats / character)")
    ax[3].set(xlabel="training step", ylabel="matrix entropy / log d, last block (pooled)",
              title="bars: ±1 influence-function stderr")
    ax[0].legend(fontsize=7)
    ax[2].legend(fontsize=7, ncol=2)
    fig.suptitle(f"char-level transformers on pydoc_data.topics; held-out: {cfg['n_eval']} "
                 f"windows × {cfg['seq']} characters; 1 run per size (PRNG seed 0); error bars "
                 f"(panels 1-2): ±1 stderr over windows (delta method)", fontsize=9)
    save(fig, path)


def plot_heads(results, cfg, path):
    """UNComp: per-head truncated key entropy (largest model) and its trend with depth."""
    plt = pyplot()
    big = list(results)[-1]
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
    grid = results[big]["key_trunc"][-1]
    im = ax[0].imshow(grid, cmap="magma", aspect="auto",
                      extent=(0.5, grid.shape[1] + 0.5, grid.shape[0] + 0.5, 0.5))
    ax[0].set(xlabel="head", ylabel="layer (block)", xticks=range(1, grid.shape[1] + 1),
              yticks=range(1, grid.shape[0] + 1),
              title=f"{big} trained: top-{TOP_K} key entropy / log d_h")
    fig.colorbar(im, ax=ax[0], label=f"top-{TOP_K} key entropy / log d_h")
    colors = dict(zip(SIZES, ("tab:blue", "tab:orange", "tab:green"), strict=True))
    for name, h in results.items():
        depth = np.arange(1, h["key_trunc"].shape[1] + 1)
        for idx, ls, tag in ((-1, "-", "trained"), (0, ":", "untrained")):
            ax[1].errorbar(depth, h["key_trunc"][idx].mean(-1),
                           yerr=h["key_trunc_se"][idx].mean(-1), ls=ls, marker="o",
                           color=colors[name], capsize=2, label=f"{name} {tag}")
            ax[2].errorbar(depth, h["key_full"][idx].mean(-1),
                           yerr=h["key_full_se"][idx].mean(-1), ls=ls, marker="o",
                           color=colors[name], capsize=2, label=f"{name} {tag}")
    ax[1].set(xlabel="layer (block)", ylabel=f"truncated key entropy (top {TOP_K}) / log d_h",
              title="mean over heads (bars: ±1 stderr over windows)")
    ax[2].set(xlabel="layer (block)", ylabel="full key matrix entropy / log d_h",
              title="mean over heads")
    ax[1].legend(fontsize=7, ncol=2)
    for a in ax[1:]:
        a.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    fig.suptitle(f"UNComp key entropies (d_h = d / heads), held-out {cfg['n_eval']} windows × "
                 f"{cfg['seq']} characters; 1 run per size (PRNG seed 0); normalised values "
                 f"are dimensionless", fontsize=9)
    save(fig, path)


def summarise(results):
    out = {}
    for name, h in results.items():
        e, se = erank(h)
        out[name] = {
            "n_params": h["n_params"], "loss_first": float(h["loss"][0]),
            "loss_last": float(h["loss"][-1]),
            "diff_erank_last_layer": [round(float(v), 3) for v in e[0, -1] - e[:, -1]],
            "diff_erank_per_layer_trained": np.round(e[0] - e[-1], 3).tolist(),
            "S_per_layer_trained": np.round(h["S"][-1], 3).tolist(),
            "S_pooled_norm_last": np.round(h["S_pooled_norm"][:, -1], 3).tolist(),
            "key_trunc_per_layer_trained": np.round(h["key_trunc"][-1].mean(-1), 3).tolist(),
            "key_trunc_per_layer_untrained": np.round(h["key_trunc"][0].mean(-1), 3).tolist(),
            "key_full_per_layer_trained": np.round(h["key_full"][-1].mean(-1), 3).tolist(),
            "timing": h["timing"],
        }
    return out


def main(argv=None) -> dict:
    parser = make_parser(__doc__, quick_help="sizes S, M; 300 steps",
                         smoke_help="size S, 4 steps (CI)")
    parser.add_argument("--sizes", help="comma-separated subset of S,M,L")
    args = parser.parse_args(argv)
    cfg = choose(SETTINGS, args)
    if args.sizes:
        cfg["sizes"] = tuple(args.sizes.split(","))
    train_ids, held_ids, vocab = corpus()
    data = (train_ids, eval_windows(held_ids, cfg["n_eval"], cfg["seq"]), vocab)
    results = {name: run_size(name, cfg, data) for name in cfg["sizes"]}
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plot_erank(results, cfg, out / "lm_matrix_entropy.png")
    plot_heads(results, cfg, out / "lm_uncomp_heads.png")
    report = summarise(results)
    (out / "lm_matrix_entropy.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    for name in results:
        steps = report[name]["timing"]["steps_per_chunk"]
        print_timing(f"LM {name}", report[name]["timing"], unit=f"{steps} training steps")
    return report


if __name__ == "__main__":
    main()
