r"""The options of the variational MI estimators, in one place.

[VariationalConfig][infoest.variational.config.VariationalConfig] holds them all.

Static options (they set shapes or control flow: the bound, the critic architecture, the
number of steps, batch and evaluation sizes) are `eqx.field(static=True)`; continuous ones
(learning rate, SMILE clip $\tau$, MINE rate) are arrays, so a sweep over them neither
recompiles nor blocks `jax.vmap`. Every public function of `infoest.variational` takes a
`config=` and/or the same fields as keywords (keywords override the config).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from infoest._checks import check_choice, check_positive_int, is_concrete

__all__ = ["BOUNDS", "VariationalConfig", "sane_limit"]

BOUNDS = ("smile", "mine", "dv", "nwj", "infonce", "js")
_SELECT = ("last", "best")
_CRITICS = ("joint", "separable")


def _array(value: Any) -> Any:
    return value if isinstance(value, jax.Array) else jnp.asarray(value, dtype=float)


def _hidden(value: Any) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, list | tuple) else (value,)


def sane_limit(pairs: int) -> float:
    r"""The largest $|\text{bound}|$ (nats) a critic may report on `pairs` score pairs:
    $10 \log(\text{pairs})$.

    A lower bound computed from $m$ pairs cannot certify much more than $\log m$ nats
    (McAllester & Stratos, AISTATS 2020), and a lower bound on a non-negative quantity far
    below zero means the critic's scores blew up; ten times that scale (111 nats for a batch
    of 256, i.e. 256·255 pairs) is never reached by a working fit and always by an exploding
    one (learning rate $10^6$: $|\text{bound}|$ between $10^5$ and $10^{13}$).
    """
    return 10.0 * math.log(max(pairs, 2))


class VariationalConfig(eqx.Module):
    """Options of [mutual_information][infoest.variational.mutual_information] and
    [fit_critic][infoest.variational.fit_critic] (defaults are the documented defaults).

    Attributes:
        bound: `"smile"`, `"mine"`, `"dv"`, `"nwj"`, `"infonce"` or `"js"`.
        critic: `"joint"` (MLP on concat(x, y)) or `"separable"` ($g(x)^\\top h(y)$); a user
            critic module is passed to the functions as `critic=` instead.
        hidden: hidden widths of the built-in critic. embed_dim: separable embedding size.
        steps: training steps. batch_size: minibatch rows (`None`: min(256, training rows)).
        eval_fraction: fraction held out by `mutual_information`, in (0, 1).
        standardize: z-score x and y first (MI is invariant).
        eval_every: held-out evaluation period (`None`: `steps // 20` when monitoring).
        eval_size: held-out rows whose pairs form the monitoring metric.
        patience: evaluations without improvement before stopping (`None`: never).
        select: `"best"` or `"last"` critic.
        chunk_size: rows per chunk when evaluating all held-out pairs.
        stderr_blocks: disjoint held-out blocks whose spread gives `stderr`.
        vmap_group: fits run side by side under `jax.vmap` (`None`: 1 on CPU, all on an
            accelerator; see [batched_fits][infoest.train.batched_fits]).
        progress: tqdm bar. throw: raise on divergence (`False`: status only).
        learning_rate: Adam learning rate (traced; finite, > 0).
        tau: SMILE clip $\\tau$ (traced; > 0, `inf` allowed).
        mine_rate: MINE moving-average rate (traced; in (0, 1]).
    """

    bound: str = eqx.field(static=True, default="smile")
    critic: str = eqx.field(static=True, default="joint")
    hidden: tuple[int, ...] = eqx.field(static=True, default=(16, 8), converter=_hidden)
    embed_dim: int = eqx.field(static=True, default=32)
    steps: int = eqx.field(static=True, default=2000)
    batch_size: int | None = eqx.field(static=True, default=None)
    eval_fraction: float = eqx.field(static=True, default=0.5)
    standardize: bool = eqx.field(static=True, default=True)
    eval_every: int | None = eqx.field(static=True, default=None)
    eval_size: int = eqx.field(static=True, default=1024)
    patience: int | None = eqx.field(static=True, default=5)
    select: str = eqx.field(static=True, default="best")
    chunk_size: int = eqx.field(static=True, default=64)
    stderr_blocks: int = eqx.field(static=True, default=20)
    vmap_group: int | None = eqx.field(static=True, default=None)
    progress: bool = eqx.field(static=True, default=False)
    throw: bool = eqx.field(static=True, default=True)
    learning_rate: Any = eqx.field(default=1e-3, converter=_array)
    tau: Any = eqx.field(default=5.0, converter=_array)
    mine_rate: Any = eqx.field(default=0.1, converter=_array)

    def __check_init__(self):
        check_choice(self.bound, "bound", BOUNDS)
        check_choice(self.select, "select", _SELECT)
        check_choice(self.critic, "critic", _CRITICS)
        for h in self.hidden:
            check_positive_int(h, "hidden")
        for name in ("embed_dim", "steps", "eval_size", "chunk_size", "stderr_blocks"):
            check_positive_int(getattr(self, name), name)
        for name in ("batch_size", "eval_every", "patience", "vmap_group"):
            if getattr(self, name) is not None:
                check_positive_int(getattr(self, name), name)
        if not 0.0 < float(self.eval_fraction) < 1.0:
            raise ValueError(f"`eval_fraction` must lie in (0, 1), got {self.eval_fraction}")
        _check_positive(self.learning_rate, "learning_rate", allow_inf=False)
        _check_positive(self.tau, "tau", allow_inf=True)
        _check_positive(self.mine_rate, "mine_rate", allow_inf=False, upper=1.0)

    def replace(self, **changes: Any) -> VariationalConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def resolve(self, n_train: int) -> VariationalConfig:
        """Fill the defaults that depend on the data size and check the sizes against it."""
        batch_size = min(256, n_train) if self.batch_size is None else self.batch_size
        if batch_size < 2:
            raise ValueError(f"`batch_size` must be >= 2, got {batch_size}")
        if batch_size > n_train:
            raise ValueError(f"`batch_size`={batch_size} exceeds the {n_train} training samples")
        eval_every = self.eval_every
        if (self.select == "best" or self.patience is not None) and eval_every is None:
            eval_every = max(self.steps // 20, 1)
        if eval_every is not None and eval_every > self.steps:
            raise ValueError(f"`eval_every`={eval_every} exceeds `steps`={self.steps}")
        return self.replace(batch_size=batch_size, eval_every=eval_every)

    @property
    def monitored(self) -> bool:
        """Whether training evaluates held-out data (early stopping or best selection)."""
        return self.eval_every is not None


def _check_positive(value: Any, name: str, *, allow_inf: bool,
                    upper: float | None = None) -> None:
    """A concrete continuous option must be > 0 (finite unless `allow_inf`), not NaN."""
    if not is_concrete(value):
        return
    v = np.asarray(value, dtype=float)
    ok = np.all(v > 0) and (allow_inf or np.all(np.isfinite(v)))
    if upper is not None:
        ok = ok and np.all(v <= upper)
    if not ok:
        what = "> 0" + ("" if allow_inf else " and finite")
        what += f" and <= {upper}" if upper is not None else ""
        raise ValueError(f"`{name}` must be {what}, got {value}")
