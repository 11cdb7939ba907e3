"""The training loop and its periodic actions: schedules, call sizes, the
logging window, and the sweep's use of public names only."""

import ast
import json
import pathlib

import jax
import numpy as np
import pytest

from jaxgan.train import actions, loop, trainer

from conftest import tiny_config, with_default_emitters


def test_periodic_action_fires_every_n_steps_and_at_the_last():
  action = actions.PeriodicAction(every=4, num_steps=10)
  assert [s for s in range(11) if action.due(s)] == [0, 4, 8, 10]
  assert [action.steps_to_next(s) for s in (0, 1, 3, 4, 7, 8, 9)] == [4, 3, 1, 4, 1, 2, 1]


def test_periodic_action_with_every_0_never_fires_and_does_not_bound_calls():
  action = actions.PeriodicAction(every=0, num_steps=10)
  assert not any(action.due(s) for s in range(11))
  assert [action.steps_to_next(s) for s in (0, 3, 9)] == [10, 7, 1]


class _Record(actions.PeriodicAction):
  def __init__(self, every, num_steps):
    super().__init__(every, num_steps)
    self.steps, self.started, self.closed = [], None, False

  def start(self, step):
    self.started = step

  def apply(self, call):
    self.steps.append(call.step)

  def close(self):
    self.closed = True


def test_loop_ends_each_call_at_the_next_due_action_and_calls_the_actions():
  calls = []

  def train_fn(state, batches):
    calls.append(batches)
    return state + batches, {}

  every_3, every_5 = _Record(3, 12), _Record(5, 12)
  state = loop.train(1, train_fn, lambda step, k: k, [every_3, every_5], start_step=1,
                     num_steps=12, steps_per_call=4, per_member=lambda tree: [tree])
  # From step 1: to 3, 5, 6, 9, 10, 12, each call at most 4 steps.
  assert calls == [2, 2, 1, 3, 1, 2]
  assert state == 12
  assert every_3.steps == [3, 6, 9, 12] and every_5.steps == [5, 10, 12]
  assert every_3.started == 1 and every_3.closed and every_5.closed


def test_loop_logs_when_its_first_call_is_done(caplog):
  """benchmarks/startup.py reads this line: the steps of the first call and
  the seconds since the process started (positive, at most its CPU age)."""
  caplog.set_level("INFO")
  loop.train(0, lambda state, batches: (state + batches, {}), lambda step, k: k, [],
             start_step=3, num_steps=12, steps_per_call=4, per_member=lambda t: [t])
  lines = [r.getMessage() for r in caplog.records if "First call done" in r.getMessage()]
  assert len(lines) == 1 and lines[0].startswith("First call done: steps 4-7, ")
  seconds = float(lines[0].split(", ")[1].split(" s ")[0])
  assert 0 < seconds < 24 * 3600


def test_loop_closes_the_actions_when_an_action_raises():
  class Fail(_Record):
    def apply(self, call):
      raise RuntimeError("stop")

  fail, other = Fail(2, 4), _Record(1, 4)
  with pytest.raises(RuntimeError, match="stop"):
    loop.train(0, lambda s, b: (s, {}), lambda step, k: None, [fail, other],
               start_step=0, num_steps=4, steps_per_call=4,
               per_member=lambda tree: [tree])
  assert fail.closed and other.closed


class _Writer:
  def __init__(self):
    self.records = []

  def write_scalars(self, step, scalars):
    self.records.append({"step": step, **scalars})


class _Checkpointer:
  directory = "ckpt"

  def wait(self):
    pass

  def latest_step(self):
    return 2


def _member(name, tmp_path, seed=0):
  config = tiny_config()
  config.seed = seed
  workdir = tmp_path / (name or "run")
  workdir.mkdir()
  return loop.Member(name, config, str(workdir), _Writer(), _Checkpointer())


def _call_metrics(losses, nonfinite_step=0):
  """train_steps' metrics of a call whose finite steps had `losses`."""
  finite = [x for x in losses if np.isfinite(x)]
  stat = lambda f: np.float32(f(finite)) if finite else np.float32("nan")
  return {"d_loss": stat(np.mean), "g_loss": stat(np.mean),
          "min": {"d_loss": stat(min), "g_loss": stat(min)},
          "max": {"d_loss": stat(max), "g_loss": stat(max)},
          "nonfinite": {"d_loss": np.float32("nan") if nonfinite_step else 0,
                        "g_loss": np.float32(0)},
          "finite_steps": len(finite), "nonfinite_step": nonfinite_step,
          "nonfinite_count": len(losses) - len(finite)}


def test_log_metrics_weights_each_call_by_its_finite_steps(tmp_path):
  members = [_member("a", tmp_path), _member("b", tmp_path)]
  log = actions.LogMetrics(members, every=4, num_steps=6, skip_nonfinite=True)
  log.start(0)
  calls = [([1.0, 2.0, 3.0], [5.0, np.nan, np.nan]), ([7.0], [np.nan]),
           ([2.0, 4.0], [np.nan, np.nan])]
  step = 0
  for a, b in calls:
    step += len(a)
    log(loop.Call(step, len(a), 6, None, None,
                  lambda _, a=a, b=b: [_call_metrics(a), _call_metrics(b)]))
  (first, last), (b_first, b_last) = (m.writer.records for m in members)
  assert first["step"] == 4 and last["step"] == 6
  assert first["d_loss"] == 3.25 and first["d_loss_min"] == 1.0
  assert first["d_loss_max"] == 7.0 and first["skipped_updates"] == 0
  assert last["d_loss"] == 3.0 and last["g_loss_max"] == 4.0
  assert b_first["d_loss"] == 5.0 and b_first["skipped_updates"] == 3
  assert np.isnan(b_last["d_loss"]) and np.isnan(b_last["g_loss_min"])
  assert b_last["skipped_updates"] == 2 and b_last["steps_per_sec"] > 0


def test_divergence_writes_each_diverged_members_record_and_names_them(tmp_path):
  members = [_member("a", tmp_path), _member("b", tmp_path, seed=1)]
  guard = actions.GuardDivergence(members, dataset_size=100, num_steps=8)
  metrics = [_call_metrics([1.0, 2.0]), _call_metrics([1.0, np.nan], nonfinite_step=4)]
  with pytest.raises(actions.DivergenceError, match=r"\[\('b', 4\)\]"):
    guard(loop.Call(4, 2, 8, None, None, lambda _: metrics))
  assert not (tmp_path / "a" / "divergence.json").exists()
  record = json.loads((tmp_path / "b" / "divergence.json").read_text())
  assert record["step"] == 4 and record["nonfinite"] == ["d_loss"]
  assert record["last_checkpoint"] == 2 and record["metrics"]["d_loss"] == "nan"
  assert len(record["batch_indices"]) == members[1].global_batch
  skipping = actions.GuardDivergence(members, 100, 8, skip_nonfinite=True)
  skipping(loop.Call(4, 2, 8, None, None, lambda _: metrics))  # only reported


def _records(workdir):
  with open(workdir / "metrics.jsonl") as f:
    return [json.loads(line) for line in f]


@with_default_emitters
def test_logged_metrics_are_the_mean_min_and_max_over_the_logging_window(tmp_path):
  """Logged every 4 steps from calls of 2: the record of step 4 holds the
  mean, min and max of the per-step losses of a run logged at every step
  (which trains the same parameters)."""
  def run(log_every, steps_per_call):
    config = tiny_config()
    config.train.update(num_steps=4, log_every=log_every, steps_per_call=steps_per_call,
                        sample_every=4, checkpoint_every=4)
    workdir = tmp_path / f"log{log_every}"
    return trainer.train_and_evaluate(config, str(workdir)), _records(workdir)

  windowed, (record,) = run(4, 2)
  per_step, records = run(1, 1)
  for a, b in zip(jax.tree.leaves(windowed), jax.tree.leaves(per_step), strict=True):
    np.testing.assert_array_equal(a, b)
  assert [r["step"] for r in records] == [1, 2, 3, 4] and record["step"] == 4
  for name in ("d_loss", "g_loss", "d_real_prob", "d_grad_norm"):
    values = [r[name] for r in records]
    # Positive values: the device sums each call's 2 steps in float32 (U), the
    # host averages the calls in float64 (1e-16): U = 6e-8. The rest of 1e-6
    # (16.8 U) leaves room for the per-step values of the two programs, the
    # same arithmetic (their parameters are bit-identical) but other fusions.
    np.testing.assert_allclose(record[name], np.mean(values), rtol=1e-6)
    assert len(set(values)) > 1, name  # the window's mean is not one step's value
  for name in ("d_loss", "g_loss"):
    values = [r[name] for r in records]
    assert record[f"{name}_min"] == min(values) and record[f"{name}_max"] == max(values)
    for r in records:  # a window of one step
      assert r[f"{name}_min"] == r[name] == r[f"{name}_max"]


def test_sweep_imports_no_private_name():
  """jaxgan/sweep.py uses only public names of other modules."""
  path = pathlib.Path(__file__).resolve().parents[1] / "jaxgan" / "sweep.py"
  tree = ast.parse(path.read_text())
  modules, private = set(), []
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      modules.update(a.asname or a.name.split(".")[0] for a in node.names)
      private += [a.name for a in node.names if "._" in f".{a.name}"]
    elif isinstance(node, ast.ImportFrom):
      modules.update(a.asname or a.name for a in node.names)
      private += [f"{node.module}.{a.name}" for a in node.names
                  if a.name.startswith("_") or "._" in f".{node.module}"]
  private += [f"{node.value.id}.{node.attr}" for node in ast.walk(tree)
              if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id in modules and node.attr.startswith("_")
              and not node.attr.startswith("__")]
  assert "trainer" in modules and "setup" in modules  # the check sees the imports
  assert private == []
