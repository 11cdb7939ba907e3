"""scripts/zoo_results.py: run preparation (budget, data root, overrides) and the loop time it reports."""

import importlib.util
import types

import pytest

from conftest import REPO


def _script():
  spec = importlib.util.spec_from_file_location("zoo_results",
                                                REPO / "scripts" / "zoo_results.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _flags(**kwargs):
  values = dict(num_steps=300, data_root="/data", eval_samples=500, set=[])
  return types.SimpleNamespace(**{**values, **kwargs})


def test_every_set_applies_after_the_budget_and_keeps_commas_in_values():
  """Each --set is one key=value (a JSON value that may hold commas), all of
  them apply, and after the script's own settings (evals once at the end,
  checkpoints at the budget), which they may change."""
  config, name = _script().prepare("sngan:fashion_mnist", _flags(set=[
      'evals.metrics="fid,class_distribution"', "evals.every=100",
      "train.checkpoint_every=50", "train.max_checkpoints=20"]))
  assert name == "sngan_fashion_mnist"
  assert config.evals.metrics == "fid,class_distribution"
  assert (config.evals.every, config.evals.num_samples) == (100, 500)
  assert (config.train.num_steps, config.train.checkpoint_every,
          config.train.max_checkpoints, config.train.sample_every) == (300, 50, 20, 300)
  assert config.data.path == "/data/fashion_mnist"
  default, _ = _script().prepare("sngan:fashion_mnist", _flags())
  assert (default.evals.every, default.train.checkpoint_every) == (0, 300)


@pytest.mark.parametrize("item, words", [
    ("evals.evry=100", "no 'evals.evry'"),
    ("evals.metrics=fid", "JSON value"),
    ("nothing.here=1", "nothing"),
])
def test_a_bad_set_says_what_was_wrong(item, words):
  with pytest.raises(ValueError, match="Bad --set") as info:
    _script().prepare("sngan:fashion_mnist", _flags(set=[item]))
  assert words in str(info.value)


# Two pieces of a run: steps 0-100 at 2 steps/s, then, resumed at step 100,
# steps 100-200 at 4 and 200-300 at 5; an evaluation record (no rate) at 300.
PIECES = [{"step": 50, "steps_per_sec": 2.0}, {"step": 100, "steps_per_sec": 2.0},
          {"step": 200, "steps_per_sec": 4.0}, {"step": 300, "steps_per_sec": 5.0},
          {"step": 300, "eval/fid": 1.0}]


def test_loop_seconds_adds_each_logs_steps_over_its_rate():
  assert _script().loop_seconds(PIECES) == pytest.approx(25 + 25 + 25 + 20)
  assert _script().loop_seconds([{"step": 0, "eval/fid": 1.0}]) == 0.0


@pytest.mark.parametrize("spec, counted", [("dcgan_mnist", 1), ("pix2pix", 3)])
def test_a_sweeps_loop_time_counts_a_vectorised_program_once(spec, counted):
  """The seeds of an unconditional model share one vectorised program, whose
  members log the same intervals; image-to-image seeds train one after another."""
  script = _script()
  config, _ = script.prepare(spec, _flags())
  assert script.sweep_loop_seconds(config, [0, 1, 2], [PIECES] * 3) == pytest.approx(
      95 * counted)
