"""Test setup: 8 CPU devices for pmap, XLA optimised for compile time.

The environment is set before JAX is imported anywhere, so every test (and
every subprocess a test starts) sees 8 host devices. JAX's persistent
compilation cache, which `jaxgan train` turns on by default, is off for the
tests and their subprocesses ($JAXGAN_COMPILATION_CACHE=''): a suite run once
aborted while using it, and on some CPUs XLA:CPU rejects its entries on reload
(jax-ml/jax#38445). tests/test_compilation.py tests the cache on its own.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["JAXGAN_COMPILATION_CACHE"] = ""
# The test models are tiny, so compiling dominates: XLA:CPU's backend
# optimisations (LLVM -O0 here) cost more than they save (test_zoo and
# test_step: 196 s -> 111 s), and so do its MLIR fusion emitters: the older
# emitters compile the tiny DCGAN's run in 0.63x the CPU time and StyleGAN2's
# in 0.58x (2026-12-06, family-25 EPYC; the suite 754 s -> 491 s). A test
# whose claim is about XLA's default code (bit-identical programs, the golden
# hashes) runs in a subprocess without that flag: `with_default_emitters`.
# Subprocesses inherit the flags.
EMITTERS = "JAXGAN_TEST_XLA_EMITTERS"  # 'default': leave XLA's fusion emitters on
_LEGACY_EMITTERS = "--xla_cpu_use_fusion_emitters=false"
_FLAGS = os.environ.get("XLA_FLAGS", "")
if "xla_backend_optimization_level" not in _FLAGS:
  _FLAGS += " --xla_backend_optimization_level=0"
if "xla_cpu_use_fusion_emitters" not in _FLAGS and os.environ.get(EMITTERS) != "default":
  _FLAGS += " " + _LEGACY_EMITTERS
os.environ["XLA_FLAGS"] = (_FLAGS + " --xla_force_host_platform_device_count=8").strip()

import functools  # noqa: E402
import inspect  # noqa: E402
import pathlib  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]


def default_emitters_env() -> dict[str, str]:
  """This environment with XLA's default fusion emitters (the suite's other
  flags kept): what users' programs compile with, but for LLVM's -O0."""
  flags = [f for f in os.environ["XLA_FLAGS"].split() if f != _LEGACY_EMITTERS]
  return dict(os.environ, XLA_FLAGS=" ".join(flags), **{EMITTERS: "default"})


def with_default_emitters(test):
  """Runs `test` in a pytest subprocess compiled with XLA's default fusion
  emitters: for tests of bit-identity between two programs, which XLA keeps
  with its default emitters but not with the older ones the suite uses. For
  a test that is not parametrized (the subprocess must pass exactly one)."""
  if os.environ.get(EMITTERS) == "default":
    return test
  node = f"{inspect.getsourcefile(test)}::{test.__name__}"

  @functools.wraps(test)
  def in_subprocess(*args, **kwargs):
    del args, kwargs  # the subprocess makes its own fixtures
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", node],
        env=default_emitters_env(), cwd=REPO, capture_output=True, text=True,
        timeout=900)
    out = result.stdout[-4000:] + result.stderr[-2000:]
    assert result.returncode == 0 and "1 passed" in result.stdout, out
  return in_subprocess


def one_device_env() -> dict[str, str]:
  """The environment for a subprocess on one CPU device: this one's, without
  the 8-device flag, and with the suite's other XLA flags kept (dropping
  XLA_FLAGS whole also turned LLVM's optimisations back on, which made such
  subprocesses compile their tiny steps slower: test_launch 52 s against
  31 s)."""
  flags = [f for f in os.environ["XLA_FLAGS"].split()
           if not f.startswith("--xla_force_host_platform_device_count")]
  return dict(os.environ, XLA_FLAGS=" ".join(flags))


def tiny_config():
  """The default DCGAN config shrunk so that a step compiles in seconds."""
  import sys
  sys.path.insert(0, str(REPO))
  from configs import dcgan
  config = dcgan.get_config()
  config.model.image_size = 28
  config.model.latent_dim = 16
  config.model.g_width = 8
  config.model.d_width = 8
  config.train.batch_size = 16
  config.train.num_steps = 4
  config.train.log_every = 2
  config.train.sample_every = 2
  config.train.checkpoint_every = 2
  config.train.num_samples = 16
  return config


@pytest.fixture
def config():
  return tiny_config()


def checkpoint_without_training(workdir, config, steps=(7,)):
  """Checkpoints at `steps` of random weights of the run's shapes (fast; a
  fresh draw at each step, the EMA's different from the trained
  parameters', BatchNorm variances positive) and its config.json, as a
  trained run leaves them."""
  import jax
  import numpy as np

  from jaxgan import checkpoint, models
  from jaxgan.train import state as state_lib
  from jaxgan.train import step as step_lib
  from jaxgan.train import trainer

  workdir.mkdir()
  (workdir / "config.json").write_text(config.to_json_best_effort())
  g, d = models.create(config.model, axis_name=step_lib.AXIS)
  abstract = jax.eval_shape(lambda: state_lib.create(
      jax.random.PRNGKey(config.seed), g, d,
      trainer.make_optimizer(config.optimizer.g),
      trainer.make_optimizer(config.optimizer.d), latent_dim=config.model.latent_dim,
      image_shape=(28, 28, 1), ema_decay=config.train.ema_decay))
  rng = np.random.default_rng(0)
  checkpointer = checkpoint.Checkpointer(str(workdir / "checkpoints"))
  def draw(path, x):  # BatchNorm's running variances must stay positive
    value = 0.05 * rng.normal(size=x.shape)
    return (np.abs(value) if jax.tree_util.keystr(path).endswith("'var']") else value
            ).astype(x.dtype)

  for step in steps:
    state = jax.tree_util.tree_map_with_path(draw, abstract).replace(step=np.int32(step))
    checkpointer.save(step, state, {"seed": 0, "batches_seen": step,
                                    "global_batch": config.train.batch_size})
  checkpointer.wait()
  checkpointer.close()


def steps_on_one_device(config, dataset, state, start: int, k: int):
  """Steps start+1 .. start+k of a run of `config` (the trainer's key and
  batches, which an 8-device run shards), computed by one device from
  `state`: what the 8-device run must equal. Returns the host state."""
  import jax
  import numpy as np
  from flax import jax_utils

  from jaxgan import models
  from jaxgan.train import setup
  from jaxgan.train import step as step_lib
  batches = setup.Batches(config, dataset, start)
  try:  # (8 devices, k steps, n_critic, B / 8, ...) -> (1, k, n_critic, B, ...)
    batch = {key: np.moveaxis(v, 0, 2).reshape(*v.shape[1:3], -1, *v.shape[4:])[None]
             for key, v in batches(start, k).items()}
  finally:
    batches.close()
  g, d = models.create(config.model, axis_name=step_lib.AXIS)
  p_step = step_lib.make_train_step(g, d, config, num_devices=1)
  device = jax.local_devices()[:1]
  key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 1)  # as the trainer's
  one, _ = p_step(jax_utils.replicate(state, device), batch,
                  jax_utils.replicate(key, device), None)
  return jax.device_get(jax.tree.map(lambda x: x[0], one))


def adam_step_bound(learning_rate: float, b1: float, b2: float, steps: int) -> float:
  """The most two runs of Adam from the same parameters can move an element
  apart in `steps` updates, whatever its gradients: Adam's bias-corrected
  step is lr m/sqrt(v), m = sum a_s g_s, v = sum c_s g_s^2, so by Cauchy-Schwarz
  |step t| <= lr sqrt(sum_s a_s^2 / c_s) (1 at t = 1, 1.05 at t = 2 for b1 =
  0.5, b2 = 0.999), and the runs' steps may have opposite signs. Rounding
  reaches this where a gradient element lies within its float32 error of 0
  (Adam's "sign flips")."""
  total = 0.0
  for t in range(1, steps + 1):
    s = range(1, t + 1)
    a = [(1 - b1) * b1 ** (t - i) / (1 - b1 ** t) for i in s]
    c = [(1 - b2) * b2 ** (t - i) / (1 - b2 ** t) for i in s]
    total += sum(x * x / y for x, y in zip(a, c)) ** 0.5
  return 2 * learning_rate * total


def assert_close_but_adam_flips(got, want, tol: float, flips: float = 0.0,
                                flip_bound: float = 0.0, what: str = ""):
  """The leaves of `got` and `want` (pytrees of arrays, or lists of them) equal
  to `tol`, but for at most a fraction `flips` of their elements, each within
  `flip_bound` (adam_step_bound): Adam moves an element by about the learning
  rate whatever its gradient's size, so an element whose gradient is within
  float32 error of 0 (or known only to a few %) may move by up to that in one
  run and not in the other; `tol` bounds the others (see each use)."""
  import jax
  import numpy as np
  pairs = list(zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True))
  diffs = np.concatenate([np.zeros(0)] + [
      np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)).ravel() for x, y in pairs])
  if diffs.size:
    top = np.sort(diffs)[-5:]
    assert np.mean(diffs > tol) <= flips, (what, top)
    assert diffs.max() <= max(tol, flip_bound if flips else 0.0), (what, top)
