"""Shared fixtures: small, deterministic inputs for every quantity."""

from __future__ import annotations

import os
import subprocess
import sys

# The suite's time is mostly XLA compiling small programs (the training programs of the
# neural estimators above all). Two code-generation options halve it and buy nothing on
# test-sized inputs: no LLVM optimisation of the generated code (level 0), and XLA's classic
# elemental emitters for fused loops instead of the newer fusion emitters, whose compilation
# costs about twice as much (a SMILE fit: 1.7 -> 0.9 s; test_te_gaussian, test_train and
# test_spectral_matrix: 85 -> 54 s, idle). The XLA graph is the same, only the machine code
# differs (results agree to rounding; the full suite passes either way). Appended to any
# XLA_FLAGS the user set (e.g. a device count); xdist's workers inherit them.
_FUSION_FLAG = "--xla_cpu_use_fusion_emitters=false"


def _xla_knows(flag: str) -> bool:
    """Whether this jaxlib's XLA accepts ``flag`` (it aborts the process on an unknown one)."""
    env = dict(os.environ, XLA_FLAGS=flag, JAX_PLATFORMS="cpu")
    code = "import jax; jax.numpy.zeros(1).block_until_ready()"
    try:
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              timeout=120).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _suite_xla_flags() -> None:
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_backend_optimization_level" not in flags:
        flags += " --xla_backend_optimization_level=0"
    if "xla_cpu_use_fusion_emitters" not in flags and "INFOEST_TEST_NO_FUSION_FLAG" not in \
            os.environ:
        if _xla_knows(_FUSION_FLAG):
            flags += " " + _FUSION_FLAG
        else:  # an XLA without the option: say so once, for the workers too
            os.environ["INFOEST_TEST_NO_FUSION_FLAG"] = "1"
    os.environ["XLA_FLAGS"] = flags.strip()


_suite_xla_flags()

import contextlib  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def correlated_gaussian(n: int, dims: tuple[int, ...], rho: float = 0.6, seed: int = 0,
                        dtype=np.float32) -> list[np.ndarray]:
    """Variables of the given dims, each coordinate correlated ``rho`` with a shared factor."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=(n, 1))
    out = []
    for d in dims:
        noise = rng.normal(size=(n, d))
        out.append((np.sqrt(rho) * common + np.sqrt(1 - rho) * noise).astype(dtype))
    return out


def coupled_ar(n: int, seed: int = 0, dtype=np.float32, c: float = 0.5) -> list[np.ndarray]:
    """Source X and target Y with Y_t = 0.5 Y_{t-1} + c X_{t-1} + noise, X AR(1) with 0.5."""
    rng = np.random.default_rng(seed)
    e = rng.normal(size=(n + 100, 2))
    x = np.zeros(n + 100)
    y = np.zeros(n + 100)
    for t in range(1, n + 100):
        x[t] = 0.5 * x[t - 1] + e[t, 0]
        y[t] = 0.5 * y[t - 1] + c * x[t - 1] + e[t, 1]
    return [x[100:].astype(dtype), y[100:].astype(dtype)]


def inputs_for(quantity: str, n: int, seed: int = 0, dtype=np.float32) -> list:
    """Positional data arguments for an estimator of ``quantity``."""
    if quantity == "entropy":
        return correlated_gaussian(n, (2,), seed=seed, dtype=dtype)
    if quantity == "mutual_information":
        return correlated_gaussian(n, (2, 2), seed=seed, dtype=dtype)
    if quantity == "conditional_mutual_information":
        return correlated_gaussian(n, (1, 1, 1), seed=seed, dtype=dtype)
    if quantity == "o_information":
        return [np.concatenate(correlated_gaussian(n, (1, 1, 1), seed=seed, dtype=dtype), axis=1)]
    if quantity == "transfer_entropy":
        return coupled_ar(n, seed=seed, dtype=dtype)
    raise ValueError(quantity)


#: XLA options for one program that runs long: a replicate study (a hundred fits or a
#: thousand estimates in one vmapped call) spends its time running, not compiling, and the
#: code generated with the suite's options runs 2-3 times slower (SMILE's coverage test:
#: 26 s at level 0, 10 s at level 1 with the fusion emitters, compilation included; idle
#: machine). The XLA program is the same, only its machine code differs (users run level 3
#: with the fusion emitters, XLA's defaults). Used only where it measured faster.
COMPUTE_OPTIONS = {"xla_backend_optimization_level": 1}
if _FUSION_FLAG in os.environ["XLA_FLAGS"]:
    COMPUTE_OPTIONS["xla_cpu_use_fusion_emitters"] = True


def _jit_with(options: dict, fn, **jit_options):
    """``jax.jit(fn, **jit_options)`` compiled with the XLA ``options`` (a plain ``jax.jit``
    when there are none or this JAX's ``jit`` takes no ``compiler_options``)."""
    import inspect

    import jax

    if not options or "compiler_options" not in inspect.signature(jax.jit).parameters:
        return jax.jit(fn, **jit_options)
    return jax.jit(fn, compiler_options=options, **jit_options)


def compute_jit(fn):
    """``jax.jit(fn)`` compiled with ``COMPUTE_OPTIONS`` (for long-running programs)."""
    return _jit_with(COMPUTE_OPTIONS, fn)


#: XLA's own code generation (what users run): for a check that compares two float32 paths
#: tighter than float32 rounds the quantity (they round alike only when compiled alike).
USER_CODEGEN = {"xla_cpu_use_fusion_emitters": True} if _FUSION_FLAG in os.environ[
    "XLA_FLAGS"] else {}


def user_codegen_jit(fn, **jit_options):
    """``jax.jit(fn, **jit_options)`` compiled with XLA's default emitters (``USER_CODEGEN``)."""
    return _jit_with(USER_CODEGEN, fn, **jit_options)


@contextlib.contextmanager
def _process_x64():
    import jax

    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", old)


@pytest.fixture
def global_x64():
    """A context manager: float64 for the whole process inside ``with global_x64():``
    (``jax.enable_x64`` is thread-local, and the tree backend's vmapped host callbacks run
    on other threads, where it does not apply)."""
    return _process_x64


def _conformance_method(item) -> str | None:
    """``"quantity:method"`` of a parametrised test of ``test_conformance.py`` (else None)."""
    spec = getattr(item, "callspec", None)
    m = spec.params.get("m") if spec is not None else None
    return None if m is None else f"{m.quantity}:{m.name}"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Order the run for ``pytest -n 2``: the same tests, only in another order.

    xdist's default ``load`` scheduling hands each worker runs of consecutive tests, and a
    worker keeps what it compiled and cached within a module. Two changes of order:

    - ``test_conformance.py`` is grouped by method (its test functions in their order within
      each method), so that one worker computes a method's cached eager estimate, ``jit``
      and ``jit(vmap)`` batch (``_per_method_cache``) and both workers do not each compile
      every method's programs, as they did with the module in test-function order;
    - ``test_sharding.py`` (a 4-device subprocess and a two-process run, about 90 s) runs
      first, so that the other worker balances it and it is not the run's tail.
    """
    conformance = [i for i, item in enumerate(items) if item.path.name == "test_conformance.py"]
    first_seen: dict[str | None, int] = {None: -1}
    for i in conformance:
        first_seen.setdefault(_conformance_method(items[i]), len(first_seen))
    grouped = sorted((items[i] for i in conformance),
                     key=lambda item: first_seen[_conformance_method(item)])
    for i, item in zip(conformance, grouped, strict=True):
        items[i] = item
    items.sort(key=lambda item: item.path.name != "test_sharding.py")  # stable


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled programs after every test module.

    A worker accumulates thousands of executables across the conformance table; two full
    runs then crashed inside XLA compilation (segfault in ``backend_compile_and_load``)
    later in the same worker. Clearing the caches per module keeps a worker's compiled
    code bounded; each module still shares compilations between its own tests.
    """
    yield
    import gc

    import jax

    jax.clear_caches()
    gc.collect()
