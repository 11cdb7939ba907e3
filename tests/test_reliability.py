"""A run survives SIGKILL (training, or writing a checkpoint), SIGTERM, damaged
checkpoints and divergence, and is bit-for-bit reproducible (issue 9).

Killed runs are real processes (tests/scripts/pausable_launch.py, which is
launch.py with a pause at a chosen moment, so the kill lands there every time).
"""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from jaxgan import checkpoint as checkpoint_lib
from jaxgan.train import trainer
from jaxgan.train import workdir as workdir_lib

from conftest import REPO, tiny_config

NUM_STEPS = 6  # checkpoints at 2, 4 and 6


def _config(**changes):
  config = tiny_config()
  config.train.num_steps = NUM_STEPS
  config.train.log_every = 1  # one step per call: a kill or signal can land at any step
  for key, value in changes.items():
    section, name = key.split(".", 1)
    node = config[section]
    *path, name = name.split(".")
    for part in path:
      node = node[part]
    node[name] = value
  return config


def _flags(config, workdir):
  """launch.py flags that build `config` from configs/dcgan.py."""
  sys.path.insert(0, str(REPO))
  from configs import dcgan
  default = workdir_lib.flatten(dcgan.get_config())
  changed = {k: v for k, v in workdir_lib.flatten(config).items() if default[k] != v}
  return [f"--config={REPO / 'configs' / 'dcgan.py'}", f"--workdir={workdir}",
          *(f"--config.{k}={v}" for k, v in changed.items())]


def _assert_states_equal(a, b):
  leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(leaves_a) == len(leaves_b)
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(x, y)


def _restore(workdir, step, template):
  checkpointer = checkpoint_lib.Checkpointer(os.path.join(workdir, "checkpoints"))
  try:
    return checkpointer.restore(template, step)[1]
  finally:
    checkpointer.close()


def _metric_steps(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line)["step"] for line in f]


def _complete_checkpoints(workdir):
  return sorted(int(n) for n in os.listdir(os.path.join(workdir, "checkpoints"))
                if n.isdigit())


class _Paused:
  """launch.py in a subprocess, paused at `pause` (see pausable_launch.py)."""

  def __init__(self, pause, workdir, control_dir, config):
    os.makedirs(control_dir, exist_ok=True)
    self.workdir, self.control_dir = workdir, control_dir
    self.stderr_path = os.path.join(control_dir, "stderr.txt")
    with open(self.stderr_path, "w") as stderr:
      self.process = subprocess.Popen(
          [sys.executable, str(REPO / "tests" / "scripts" / "pausable_launch.py"),
           pause, str(control_dir), *_flags(config, workdir)],
          stdout=subprocess.DEVNULL, stderr=stderr, cwd=str(control_dir))

  def stderr(self):
    with open(self.stderr_path) as f:
      return f.read()

  def wait_until(self, condition, what, timeout=300):
    deadline = time.time() + timeout
    while not condition():
      if self.process.poll() is not None:
        pytest.fail(f"exited ({self.process.returncode}) before {what}:\n"
                    f"{self.stderr()[-3000:]}")
      if time.time() > deadline:
        self.process.kill()
        pytest.fail(f"timed out waiting for {what}:\n{self.stderr()[-3000:]}")
      time.sleep(0.05)

  def wait_paused(self):
    self.wait_until(lambda: os.path.exists(os.path.join(self.control_dir, "paused")),
                    "the pause")

  def go(self):
    with open(os.path.join(self.control_dir, "go"), "w"):
      pass

  def kill(self, signum=signal.SIGKILL):
    self.process.send_signal(signum)


_PAUSES = {"killed_while_training": "step:4", "killed_while_committing": "commit:4",
           "terminated": "step:2"}


@pytest.fixture(scope="module")
def paused_runs(tmp_path_factory):
  """The runs that the kill tests stop, started at once: they compile while
  this process trains the reference."""
  root = tmp_path_factory.mktemp("paused")
  runs = {name: _Paused(pause, str(root / name / "run"), root / name / "control",
                        _config()) for name, pause in _PAUSES.items()}
  yield runs
  for run in runs.values():
    if run.process.poll() is None:
      run.kill()
      run.process.wait()


@pytest.fixture(scope="module")
def reference(paused_runs, tmp_path_factory):
  """An uninterrupted run: its workdir and final state."""
  del paused_runs  # started first
  workdir = str(tmp_path_factory.mktemp("reference"))
  return workdir, trainer.train_and_evaluate(_config(), workdir)


@pytest.fixture(scope="module")
def killed_while_training(paused_runs):
  """A run SIGKILLed before step 5, after checkpoint 4 is complete."""
  run = paused_runs["killed_while_training"]
  run.wait_paused()
  run.wait_until(lambda: os.path.isdir(os.path.join(run.workdir, "checkpoints", "4")),
                 "checkpoint 4")
  run.kill()
  assert run.process.wait(60) == -signal.SIGKILL
  return run.workdir


def test_sigkill_while_training_then_rerun_ends_as_if_uninterrupted(
    reference, killed_while_training, caplog):
  workdir = killed_while_training
  assert _complete_checkpoints(workdir) == [2, 4]
  with caplog.at_level(logging.INFO):
    resumed = trainer.train_and_evaluate(_config(), workdir)
  assert "Resumed from step 4" in caplog.text
  _assert_states_equal(resumed, reference[1])
  assert _complete_checkpoints(workdir) == [2, 4, 6]  # nothing saved was lost
  assert _metric_steps(workdir) == list(range(1, NUM_STEPS + 1))


def test_two_runs_of_the_same_config_and_seed_are_bit_identical(
    reference, killed_while_training):
  """The killed run trained steps 1-4 in another process, compiling afresh."""
  ref_dir, final = reference
  for step in (2, 4):
    _assert_states_equal(_restore(killed_while_training, step, final),
                         _restore(ref_dir, step, final))
    name = os.path.join("samples", f"step_{step:07d}.png")
    with open(os.path.join(ref_dir, name), "rb") as a, \
         open(os.path.join(killed_while_training, name), "rb") as b:
      assert a.read() == b.read()


def test_sigkill_while_writing_a_checkpoint_then_rerun_ends_as_if_uninterrupted(
    reference, paused_runs, caplog):
  run = paused_runs["killed_while_committing"]
  workdir = run.workdir
  run.wait_paused()  # checkpoint 4's files are written, its rename is not done
  # Meanwhile training goes on to the end and logs step 6.
  run.wait_until(lambda: os.path.exists(os.path.join(workdir, "metrics.jsonl"))
                 and NUM_STEPS in _metric_steps(workdir), "step 6")
  run.kill()
  assert run.process.wait(60) == -signal.SIGKILL
  assert _complete_checkpoints(workdir) == [2]
  assert any(n.startswith("4.orbax-checkpoint-tmp")
             for n in os.listdir(os.path.join(workdir, "checkpoints")))

  with caplog.at_level(logging.INFO):
    resumed = trainer.train_and_evaluate(_config(), workdir)
  assert "Resumed from step 2" in caplog.text
  _assert_states_equal(resumed, reference[1])
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["2", "4", "6"]
  # The records of steps 3-6 were written again, once; the first ones kept aside.
  assert _metric_steps(workdir) == list(range(1, NUM_STEPS + 1))
  with open(os.path.join(workdir, "metrics.dropped.jsonl")) as f:
    assert [json.loads(line)["step"] for line in f] == [3, 4, 5, 6]


def test_sigterm_saves_a_checkpoint_then_exits_and_rerun_resumes(
    reference, paused_runs, caplog):
  run = paused_runs["terminated"]
  workdir = run.workdir
  run.wait_paused()  # before step 3; checkpoints are due at 2, 4, 6 only
  run.kill(signal.SIGTERM)
  run.wait_until(lambda: "Received SIGTERM" in run.stderr(), "the signal")
  run.go()
  assert run.process.wait(120) == 128 + signal.SIGTERM, run.stderr()[-3000:]
  assert "Stopped by SIGTERM at step 3" in run.stderr()
  assert _complete_checkpoints(workdir) == [2, 3]

  with caplog.at_level(logging.INFO):
    resumed = trainer.train_and_evaluate(_config(), workdir)
  assert "Resumed from step 3" in caplog.text
  _assert_states_equal(resumed, reference[1])


# ------------------------------------------------------------ damaged checkpoints


def _copy_run(reference, tmp_path):
  workdir = str(tmp_path / "run")
  shutil.copytree(reference[0], workdir)
  return workdir


def _damage(checkpoint_dir):
  """Truncates every data file of an orbax checkpoint to half its size."""
  for root, _, files in os.walk(checkpoint_dir):
    for name in files:
      path = os.path.join(root, name)
      if os.sep + "d" + os.sep in path or name == "_METADATA":
        with open(path, "r+b") as f:
          f.truncate(os.path.getsize(path) // 2)


def test_damaged_latest_checkpoint_falls_back_to_the_previous_one_with_a_warning(
    reference, tmp_path, caplog):
  workdir = _copy_run(reference, tmp_path)
  _damage(os.path.join(workdir, "checkpoints", "6"))
  with caplog.at_level(logging.INFO):
    resumed = trainer.train_and_evaluate(_config(), workdir)
  warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
  assert any("Checkpoint at step 6" in w and "cannot be restored" in w for w in warnings)
  assert any("Resuming from step 4" in w for w in warnings)
  _assert_states_equal(resumed, reference[1])  # steps 5-6 trained again
  assert _complete_checkpoints(workdir) == [2, 4, 6]
  # The damaged checkpoint is kept aside, not deleted.
  assert os.listdir(os.path.join(workdir, "checkpoints.unreadable")) == ["6"]


def test_no_readable_checkpoint_is_an_error_naming_the_directory(reference, tmp_path):
  workdir = _copy_run(reference, tmp_path)
  for step in (2, 4, 6):
    _damage(os.path.join(workdir, "checkpoints", str(step)))
  before = sorted(os.listdir(workdir)), _metric_steps(workdir)
  with pytest.raises(checkpoint_lib.CheckpointError,
                     match=r"No checkpoint in .*checkpoints could be restored"):
    trainer.train_and_evaluate(_config(), workdir)
  assert (sorted(os.listdir(workdir)), _metric_steps(workdir)) == before
  assert _complete_checkpoints(workdir) == [2, 4, 6]


def _files(workdir):
  """{relative path: bytes} of every file under `workdir`."""
  out = {}
  for root, _, names in os.walk(workdir):
    for name in names:
      with open(os.path.join(root, name), "rb") as f:
        out[os.path.relpath(os.path.join(root, name), workdir)] = f.read()
  return out


@pytest.mark.parametrize("change, says", [
    ({"model.g_width": 16}, r"ema_params\.project\.kernel: saved float32\[16, 784\], "
                            r"this run's float32\[16, 1568\]"),
    ({"model.d_norm": "layer"},
     r"(?=.*discriminator\.params\.LayerNorm_0\.bias: not in the checkpoint)"
     r"(?=.*discriminator\.params\.BatchNorm_0\.bias: saved, not in this run's state)")])
def test_resuming_with_another_model_says_which_arrays_differ_and_changes_nothing(
    reference, tmp_path, change, says):
  """Orbax restores the saved shapes whatever the state's, and a changed
  structure failed with an orbax message and was taken for a damaged
  checkpoint; either is now refused, naming the arrays, before compiling the
  step and before config.json is replaced."""
  workdir = _copy_run(reference, tmp_path)
  before = _files(workdir)
  with pytest.raises(checkpoint_lib.CheckpointShapeError,
                     match=r"(?s)Checkpoint 6 in .*saved by another model:.*" + says
                     + r".*Resume with the config that saved it"):
    trainer.train_and_evaluate(_config(**change), workdir, override_config=True)
  assert _files(workdir) == before  # no config.1.json, nothing moved aside, no record trimmed


@pytest.mark.parametrize("kind", ["file", "dangling_link", "unlistable"])
def test_unreadable_checkpoint_directory_is_an_error_not_a_fresh_start(
    reference, tmp_path, monkeypatch, kind):
  workdir = _copy_run(reference, tmp_path)
  checkpoints = os.path.join(workdir, "checkpoints")
  if kind == "unlistable":  # e.g. no read permission (tests may run as root)
    listdir = os.listdir

    def unreadable(path="."):
      if os.path.abspath(path) == checkpoints:
        raise PermissionError(13, "Permission denied", path)
      return listdir(path)
    monkeypatch.setattr(os, "listdir", unreadable)
    match = "Cannot read the checkpoint directory"
  else:
    shutil.rmtree(checkpoints)
    if kind == "file":
      with open(checkpoints, "w") as f:
        f.write("not a directory")
      match = "is not a directory"
    else:  # a network disk that is not mounted
      os.symlink(str(tmp_path / "unmounted" / "checkpoints"), checkpoints)
      match = "cannot be reached"
  with pytest.raises(checkpoint_lib.CheckpointError, match=match):
    trainer.train_and_evaluate(_config(), workdir)
  assert _metric_steps(workdir) == list(range(1, NUM_STEPS + 1))  # untouched


# ------------------------------------------------------------ divergence

# A real trigger: the generator's first update (learning rate 1e30) is finite,
# but the next step's fake images make every loss NaN.
_DIVERGING = {"optimizer.g.learning_rate": 1e30, "train.checkpoint_every": 1,
              "train.max_checkpoints": 10,
              "train.num_steps": 4}


@pytest.fixture(scope="module")
def diverged(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("diverged"))
  with pytest.raises(trainer.DivergenceError) as error:
    trainer.train_and_evaluate(_config(**_DIVERGING), workdir)
  return workdir, str(error.value)


def test_divergence_stops_naming_step_and_quantity_and_keeps_the_last_good_checkpoint(
    diverged):
  workdir, message = diverged
  assert "diverged at step 2: non-finite d_loss=nan" in message
  assert "skip_nonfinite" in message
  assert _complete_checkpoints(workdir) == [1]
  with open(os.path.join(workdir, "divergence.json")) as f:
    record = json.load(f)
  assert record["step"] == 2 and record["last_checkpoint"] == 1
  assert {"d_loss", "g_loss", "d_grad_norm"} <= set(record["nonfinite"])
  assert record["metrics"]["d_loss"] == "nan"
  assert len(record["batch_indices"]) == 16
  assert _metric_steps(workdir) == [1]  # step 2's metrics are in divergence.json


def test_skip_nonfinite_skips_the_updates_and_a_diverged_run_can_resume_with_it(
    diverged, tmp_path):
  workdir = str(tmp_path / "run")
  shutil.copytree(diverged[0], workdir)
  config = _config(**_DIVERGING, **{"train.skip_nonfinite": True})
  final = trainer.train_and_evaluate(config, workdir)
  assert int(final.step) == 4
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f]
  assert [r["step"] for r in records] == [1, 2, 3, 4]
  assert [r["skipped_updates"] for r in records[1:]] == [1, 1, 1]
  # Every update after step 1 was skipped: the state is step 1's, finite.
  after_step_1 = _restore(workdir, 1, final)
  _assert_states_equal(final.generator, after_step_1.generator)
  _assert_states_equal(final.discriminator, after_step_1.discriminator)
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(final))


# ------------------------------------------------------------ config


def test_workdir_with_another_config_is_refused_unless_overridden_and_keeps_the_old(
    reference, diverged, tmp_path):
  del diverged  # (compiled the changed config's initial state)
  workdir = _copy_run(reference, tmp_path)
  with open(os.path.join(workdir, "config.json")) as f:
    old = f.read()
  config = _config(**_DIVERGING)  # another learning rate and max_checkpoints
  with pytest.raises(ValueError, match=r"(?s)optimizer\.g\.learning_rate: 0\.0002 -> "
                     r"1e\+30.*--override_config"):
    trainer.train_and_evaluate(config, workdir)
  assert not os.path.exists(os.path.join(workdir, "config.1.json"))

  final = trainer.train_and_evaluate(config, workdir, override_config=True)
  with open(os.path.join(workdir, "config.1.json")) as f:
    assert f.read() == old
  with open(os.path.join(workdir, "config.json")) as f:
    assert json.load(f) == json.loads(config.to_json_best_effort())
  # The run had finished: the parameters are the checkpoint's, but the learning
  # rate in the optimizer state is the new config's, not the checkpoint's.
  _assert_states_equal(final.generator.params, reference[1].generator.params)
  assert final.generator.opt_state.hyperparams["learning_rate"] == np.float32(1e30)
  assert final.discriminator.opt_state.hyperparams["learning_rate"] == np.float32(2e-4)
