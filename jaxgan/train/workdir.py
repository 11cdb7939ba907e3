"""A run's directory: its config.json, metrics.jsonl and checkpoint folders,
and resuming from what is there."""

import json
import os
import shutil

import jax
import ml_collections
from absl import logging

from jaxgan import checkpoint as checkpoint_lib
from jaxgan.train import state as state_lib

# Keys that may change when a run is resumed: how long, how often to log, how
# the same computation is scheduled, and whether non-finite steps are skipped
# (so a diverged run can go on with skipping).
SCHEDULE_KEYS = ("train.num_steps", "train.log_every", "train.sample_every",
                 "train.checkpoint_every", "train.steps_per_call", "data.on_device")
RESUMABLE_KEYS = SCHEDULE_KEYS + ("train.skip_nonfinite",)


def checkpoint_dir(workdir: str) -> str:
  """Where the run's checkpoints are."""
  return os.path.join(workdir, "checkpoints")


def best_checkpoint_dir(workdir: str) -> str:
  """Where the checkpoint of the best evaluation is (`config.evals.best_metric`)."""
  return os.path.join(workdir, "checkpoints_best")


def sample_dir(workdir: str) -> str:
  """Where the sample grids are, as step_NNNNNNN.png."""
  return os.path.join(workdir, "samples")


def flatten(config: ml_collections.ConfigDict | dict, prefix: str = "") -> dict:
  """{'train.num_steps': 4, ...}: the leaves of a nested config by dotted key."""
  out = {}
  for key, value in config.items():
    if isinstance(value, (ml_collections.ConfigDict, dict)):
      out.update(flatten(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = value
  return out


def option_defaults() -> dict:
  """Every option of `configs/common.py`'s blocks with its default value, by
  dotted key. A key that a saved run's config.json lacks is an option added
  after the run, and an added option's default keeps the earlier behaviour."""
  from jaxgan.configs import common  # pylint: disable=g-import-not-at-top
  return flatten({"model": common.model(), "loss": common.loss(), "data": common.data(),
                  "train": common.train(), "optimizer": common.optimizers()})


def check_config_file(config: ml_collections.ConfigDict, workdir: str,
                      override: bool = False) -> list[str]:
  """Refuses a workdir that holds a run with a different config, unless
  `override`; returns the differences, as 'key: old -> new' lines. Options
  added to jaxgan since the run was saved (absent from its config.json) count
  as unchanged while they hold their default value; options retired since
  are read as the options that replaced them (`configs/common.upgrade`)."""
  from jaxgan.configs import common  # pylint: disable=g-import-not-at-top
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    return []
  try:
    with open(path) as f:
      old = flatten(common.upgrade(json.load(f)))
  except (OSError, ValueError) as e:
    if not override:
      raise ValueError(
          f"Cannot read {path} ({e}), the config of the run in {workdir}. Restore "
          "it, train in another --workdir, or pass --override_config to continue "
          "the run with this config (the file is kept as config.N.json).") from e
    return [f"config.json: unreadable ({e})"]
  new = flatten(json.loads(config.to_json_best_effort()))
  defaults = option_defaults()
  added = {k for k in new.keys() - old.keys() if k in defaults and new[k] == defaults[k]}
  changed = sorted(k for k in old.keys() | new.keys()
                   if old.get(k) != new.get(k) and k not in RESUMABLE_KEYS
                   and k not in added  # an option added since, at its default
                   and not k.startswith("evals."))  # what is measured may change
  diff = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed]
  if diff and not override:
    raise ValueError(
        f"{workdir} holds a run with a different config:\n  " + "\n  ".join(diff)
        + "\nResume it with the same config, or train in another --workdir, or pass "
        "--override_config (train_and_evaluate(..., override_config=True)) to "
        "continue it with the new config; the old config.json is then kept as "
        "config.N.json.")
  if diff:
    logging.warning("Continuing the run in %s with a changed config "
                    "(--override_config):\n  %s", workdir, "\n  ".join(diff))
  return diff


def write_config(config: ml_collections.ConfigDict, workdir: str,
                 keep_old: bool = False) -> None:
  """Saves the resolved config as workdir/config.json (atomically); with
  `keep_old`, the config.json there is first copied to config.N.json."""
  path = os.path.join(workdir, "config.json")
  if keep_old and os.path.exists(path):
    n = 1
    while os.path.exists(os.path.join(workdir, f"config.{n}.json")):
      n += 1
    kept = os.path.join(workdir, f"config.{n}.json")
    shutil.copy2(path, f"{kept}.tmp")
    os.replace(f"{kept}.tmp", kept)
    logging.warning("The previous config of %s is kept as %s.", workdir, kept)
  tmp = f"{path}.tmp"
  with open(tmp, "w") as f:
    f.write(config.to_json_best_effort(indent=2, sort_keys=True))
  os.replace(tmp, path)


def trim_metrics(workdir: str, step: int) -> None:
  """Moves the records after `step` (and a line cut short by a kill) from
  workdir/metrics.jsonl to metrics.dropped.jsonl: a run resumed from `step`
  writes them again."""
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return
  kept, dropped = [], []
  with open(path) as f:
    for line in f:
      try:
        keep = json.loads(line)["step"] <= step
      except (ValueError, KeyError, TypeError):
        keep = False
      (kept if keep else dropped).append(line.rstrip("\n") + "\n")
  if dropped:
    with open(os.path.join(workdir, "metrics.dropped.jsonl"), "a") as f:
      f.writelines(dropped)
    with open(f"{path}.tmp", "w") as f:
      f.writelines(kept)
    os.replace(f"{path}.tmp", path)
    logging.info("Moved %d records after step %d from %s to metrics.dropped.jsonl; "
                 "the resumed run writes them again.", len(dropped), step, path)


def with_config_hyperparams(restored: state_lib.GANState,
                            template: state_lib.GANState) -> state_lib.GANState:
  """`restored` with the optimizer hyperparameters (learning rates, ...) of
  `template`: `optax.inject_hyperparams` keeps them in the optimizer state, so
  a checkpoint would otherwise bring back the old config's values."""
  def fix(restored_opt, template_opt):
    if hasattr(restored_opt, "hyperparams") and hasattr(restored_opt, "_replace"):
      return restored_opt._replace(hyperparams=template_opt.hyperparams)
    return restored_opt

  def fix_player(r, t):
    return r.replace(opt_state=jax.tree.map(
        fix, r.opt_state, t.opt_state, is_leaf=lambda x: hasattr(x, "hyperparams")))

  return restored.replace(
      generator=fix_player(restored.generator, template.generator),
      discriminator=fix_player(restored.discriminator, template.discriminator))


def restore(checkpointer: checkpoint_lib.Checkpointer, state: state_lib.GANState,
            config_changed: bool = False) -> tuple[int, state_lib.GANState]:
  """(step, state) of the latest checkpoint, or (0, `state`) when there is
  none; with `config_changed`, the restored state keeps `state`'s optimizer
  hyperparameters (see `with_config_hyperparams`)."""
  if checkpointer.latest_step() is None:
    return 0, state
  step, restored, data_position = checkpointer.restore(state)
  if data_position["batches_seen"] != step:
    raise checkpoint_lib.CheckpointError(
        f"Checkpoint {step} in {checkpointer.directory} records "
        f"{data_position['batches_seen']} batches seen; it is inconsistent.")
  logging.info("Resumed from step %d in %s.", step, checkpointer.directory)
  return step, with_config_hyperparams(restored, state) if config_changed else restored
