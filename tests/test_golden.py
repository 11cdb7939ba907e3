"""Golden results: short runs of six configs end in recorded parameters.

A refactor of the step, the loop or the sweep must not change what a config
trains to. Each case trains a few steps through the real entry points
(`train_and_evaluate`, `train_sweep`) on the offline digits and compares the
final state with tests/golden/params.json:

- on the machine the file was recorded on (same CPU model, jax and jaxlib,
  XLA flags), bit for bit: a hash of every parameter, optimizer moment and
  EMA value;
- on any machine, a few values and each player's parameter norm, to the
  float32 error of a few Adam steps (see `_adam_tolerances`).

On the recording machine the cases train in one subprocess compiled with
XLA's default fusion emitters, the code the file was recorded with; elsewhere
(where only the tolerance test can hold) in the test process, with the
older, faster-compiling emitters the rest of the suite uses (conftest.py).
Record the file again (only when a change is meant to alter training, and
say so in the commit) with `python tests/test_golden.py --record`.
"""

import hashlib
import json
import os
import pathlib
import platform
import subprocess
import sys

if __name__ == "__main__":  # recording, or the tests' subprocess: default emitters
  os.environ["JAXGAN_TEST_XLA_EMITTERS"] = "default"

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import conftest  # noqa: E402  (8 CPU devices, the test XLA flags; configs on sys.path)
from conftest import REPO, adam_step_bound, tiny_config  # noqa: E402

GOLDEN = pathlib.Path(__file__).parent / "golden" / "params.json"
NUM_VALUES = 8


def _short(config, num_steps=4):
  config.train.update(num_steps=num_steps, steps_per_call=2, log_every=2,
                      sample_every=num_steps, checkpoint_every=num_steps,
                      num_samples=16)
  if "evals" in config:
    config.evals.metrics = ""
  return config


def _dcgan():
  return _short(tiny_config())


def _wgan_gp():
  from configs import common, wgan_gp
  config = wgan_gp.get_config("mnist_dcgan")  # 'mnist' until it became gan_mnist.py's
  config.data = common.data("digits")
  config.model.update(image_size=28, latent_dim=16, g_width=8, d_width=8)
  config.train.update(batch_size=16, n_critic=5)
  return _short(config, num_steps=2)


def _acgan():
  from configs import acgan
  config = acgan.get_config()
  config.data.source = "digits"
  config.model.update(latent_dim=8, g_width=8, d_width=8)
  config.train.batch_size = 16
  return _short(config)


def _ssgan():
  from configs import ssgan
  config = ssgan.get_config()
  config.data.source = "digits"
  config.data.num_labeled = 20
  config.model.update(latent_dim=8, g_width=8, d_widths=(8, 8), data_init_examples=64)
  config.train.update(batch_size=16, labeled_batch_size=16)
  for player in ("g", "d"):  # lr 3e-3 would let a weight move by 15x more (Adam)
    config.optimizer[player].learning_rate = 2e-4
  return _short(config)


def _pix2pix():
  from configs import pix2pix
  config = pix2pix.get_config()
  config.data.update(source="digits", path="", holdout=16)
  config.model.update(image_size=16, g_width=8, d_width=8, num_downs=2)
  return _short(config)


SWEEP_MEMBERS = [{"seed": 0, "optimizer.d.b1": 0.5, "loss.gp_weight": 0.0},
                 {"seed": 1, "optimizer.d.b1": 0.0, "loss.gp_weight": 1.0}]

RUNS = {"dcgan": _dcgan, "wgan_gp": _wgan_gp, "acgan": _acgan, "ssgan": _ssgan,
        "pix2pix": _pix2pix}
CASES = [*RUNS, "sweep/0", "sweep/1"]


def _leaves(state) -> dict[str, np.ndarray]:
  """The state's arrays by path: parameters, batch statistics, optimizer
  states (moments, counts, hyperparameters) and the EMA."""
  flat = jax.tree_util.tree_flatten_with_path(state)[0]
  return {jax.tree_util.keystr(path): np.asarray(x) for path, x in flat}


def summarize(state) -> dict:
  """A hash of every array of the state, and a few values."""
  leaves = _leaves(state)
  digest = hashlib.sha256()
  for name in sorted(leaves):
    x = np.ascontiguousarray(leaves[name])
    digest.update(name.encode() + str(x.dtype).encode() + str(x.shape).encode())
    digest.update(x.tobytes())
  g = np.concatenate([np.ravel(x) for x in jax.tree.leaves(state.generator.params)])
  d = np.concatenate([np.ravel(x) for x in jax.tree.leaves(state.discriminator.params)])
  picks = np.linspace(0, len(g) - 1, NUM_VALUES).astype(int)
  return {"sha256": digest.hexdigest(), "step": int(state.step),
          "g_values": g[picks].astype(float).tolist(),
          "g_norm": float(np.linalg.norm(g.astype(np.float64))),
          "d_norm": float(np.linalg.norm(d.astype(np.float64)))}


def machine(xla_flags: str | None = None) -> dict:
  """What a bit-for-bit result depends on (`xla_flags`: a process's, this
  one's by default)."""
  cpu, flags = platform.processor(), ""
  try:
    with open("/proc/cpuinfo") as f:
      info = {k.strip(): v for k, v in (line.split(":", 1) for line in f.read().split("\n\n")[0].splitlines()
                  if ":" in line)}
    cpu = info.get("model name", cpu).strip()
    flags = hashlib.sha256(info.get("flags", "").strip().encode()).hexdigest()[:16]
  except OSError:
    pass
  import jaxlib
  return {"cpu": cpu, "cpu_flags": flags, "jax": jax.__version__, "jaxlib": jaxlib.__version__,
          "xla_flags": " ".join(sorted(set((os.environ.get("XLA_FLAGS", "")
                                            if xla_flags is None else xla_flags).split())))}


_RESULTS: dict = {}


def train(case: str, workdir: pathlib.Path):
  """The final host state of `case`, trained once per process."""
  from jaxgan import sweep
  from jaxgan.train import trainer
  if case not in _RESULTS:
    if case.startswith("sweep/"):
      states = sweep.train_sweep(_dcgan(), SWEEP_MEMBERS, str(workdir / "sweep"),
                                 mode="vectorised")
      for i, state in enumerate(states.values()):
        _RESULTS[f"sweep/{i}"] = state
    else:
      _RESULTS[case] = trainer.train_and_evaluate(RUNS[case](), str(workdir / case))
  return _RESULTS[case]


@pytest.fixture(scope="module")
def golden():
  if not GOLDEN.exists():
    pytest.fail(f"{GOLDEN} is missing: record it with python tests/test_golden.py --record")
  return json.loads(GOLDEN.read_text())


@pytest.fixture(scope="module")
def results(golden, tmp_path_factory):
  """{'machine', 'cases'} as the golden file holds them, of this machine.

  On the recording machine, every case trained in `python tests/test_golden.py
  --summaries`, compiled with XLA's default fusion emitters as recorded, for
  the bit-for-bit test. Elsewhere that test cannot hold, so the cases train
  here, with the suite's faster-compiling emitters (CPU time of the file
  65 s -> 37 s, family-25 EPYC): another rounding, as another machine's,
  which the tolerance test's bounds are for."""
  recorded = machine(conftest.default_emitters_env()["XLA_FLAGS"])
  if golden["machine"] != recorded:
    return {"machine": recorded, "cases": _summaries()["cases"]}
  out = tmp_path_factory.mktemp("golden") / "summaries.json"
  result = subprocess.run([sys.executable, __file__, "--summaries", str(out)],
                          env=conftest.default_emitters_env(), cwd=REPO,
                          capture_output=True, text=True, timeout=1200)
  assert result.returncode == 0, result.stderr[-4000:]
  return json.loads(out.read_text())


def _adam_tolerances(case: str) -> tuple[float, float]:
  """How far G's and D's parameters of `case` may be from the recorded ones.

  Adam moves a weight by about the learning rate per step whatever the size
  of its gradient, so a gradient element near 0 whose rounding differs on
  another CPU (another SIMD width, another summation order) can move that
  weight by up to conftest.adam_step_bound over the run's updates (about 2 lr
  per update: 1.8e-3 for the 4 updates of lr 2e-4 here, 4.8e-4 for WGAN-GP's
  G, 4e-3 for its D's 10); elements whose gradients both machines know well
  move by far less. (4e-3 for every case before: more than any case's G can
  move, so the values checked the initialisation only; they still do, since
  no bound below adam_step_bound holds on every CPU.)"""
  from jaxgan import sweep
  if case.startswith("sweep/"):
    config = sweep.member_configs(_dcgan(), SWEEP_MEMBERS)[2][int(case.split("/")[1])]
  else:
    config = RUNS[case]()
  steps = config.train.num_steps
  bounds = []
  for player, updates in (("g", steps), ("d", steps * (config.train.get("n_critic") or 1))):
    opt = config.optimizer[player]
    bounds.append(adam_step_bound(opt.learning_rate, opt.b1, opt.b2, updates))
  return bounds[0], bounds[1]


@pytest.mark.parametrize("case", CASES)
def test_final_parameters_match_the_recorded_values(case, golden, results):
  got, want = results["cases"][case], golden["cases"][case]
  assert got["step"] == want["step"]
  g_tol, d_tol = _adam_tolerances(case)
  np.testing.assert_allclose(got["g_values"], want["g_values"], atol=g_tol, rtol=0)
  # A norm moves by at most the norm of the change: up to 4 elements of the
  # thousands at their bound (sqrt(4) x it), the others' changes (~1e-8 each
  # between programs that round differently) far below. rtol=1e-3 before, too
  # tight for one flip in WGAN-GP's D (norm 1.1, bound 4e-3).
  np.testing.assert_allclose(got["g_norm"], want["g_norm"], rtol=0, atol=2 * g_tol)
  np.testing.assert_allclose(got["d_norm"], want["d_norm"], rtol=0, atol=2 * d_tol)


@pytest.mark.parametrize("case", CASES)
def test_final_state_is_bit_identical_on_the_recording_machine(case, golden, results):
  if golden["machine"] != results["machine"]:
    pytest.skip(f"bit-for-bit results hold on the machine they were recorded on "
                f"({golden['machine']}); this one is {results['machine']}")
  assert results["cases"][case]["sha256"] == golden["cases"][case]["sha256"]


def _summaries() -> dict:
  """{'machine', 'cases'}: every case trained here, summarised."""
  import tempfile
  with tempfile.TemporaryDirectory() as tmp:
    cases = {case: summarize(train(case, pathlib.Path(tmp))) for case in CASES}
  return {"machine": machine(), "cases": cases}


if __name__ == "__main__":
  usage = "usage: python tests/test_golden.py --record | --summaries FILE"
  sys.path.insert(0, str(REPO))
  if sys.argv[1:] == ["--record"]:
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(_summaries(), indent=2) + "\n")
    print(f"Wrote {GOLDEN}.")
  elif len(sys.argv) == 3 and sys.argv[1] == "--summaries":
    pathlib.Path(sys.argv[2]).write_text(json.dumps(_summaries()))
  else:
    sys.exit(usage)
