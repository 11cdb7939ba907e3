"""The training loop and its periodic actions: schedules, call sizes, the
logging window, and the sweep's use of public names only."""

import ast
import json
import pathlib

import jax
import numpy as np
import pytest

from jaxgan.train import actions, loop, trainer

from conftest import tiny_config


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


def _records(workdir):
  with open(workdir / "metrics.jsonl") as f:
    return [json.loads(line) for line in f]


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
