"""`train_and_evaluate(config, workdir)`: a single training run.

The names tests and scripts use from here are re-exported from the modules
that hold them: `validation` (config and data checks), `setup` (data, models,
optimizers, state, the compiled step), `sampling`, `workdir`, `loop` and
`actions`.
"""

import contextlib
import os
from typing import Any

import jax
import ml_collections
import tqdm

from jaxgan import checkpoint as checkpoint_lib
from jaxgan import data as data_lib
from jaxgan import evaluation
from jaxgan.train import actions as actions_lib
from jaxgan.train import lock as lock_lib
from jaxgan.train import loop, sampling, setup, validation, writers
from jaxgan.train import workdir as workdir_lib
from jaxgan.train.actions import DivergenceError, TrainingInterrupted
from jaxgan.train.sampling import (
  class_grid_inputs,
  make_sampler,
  sample_grid,
)
from jaxgan.train.setup import (
  example_cond,
  labeled_subset,
  load_dataset,
  make_optimizer,
  make_optimizers,
  shard_batch,
)
from jaxgan.train.validation import check_config, check_data

__all__ = ["DivergenceError", "TrainingInterrupted", "check_config", "check_data",
           "class_grid_inputs", "example_cond", "labeled_subset", "load_dataset",
           "make_optimizer", "make_optimizers", "make_sampler", "sample_grid",
           "shard_batch", "train_and_evaluate"]


def _evaluator(config: ml_collections.ConfigDict, dataset: data_lib.ImageDataset,
               workdir: str) -> evaluation.Evaluator | None:
  """The run's evaluator (`config.evals`), or None. Built before compiling:
  unknown metrics or a missing feature network fail now."""
  if "evals" not in config:
    return None
  return evaluation.Evaluator(
      config.evals, dataset, workdir,
      reference_name=f"{dataset.name}:{config.data.get('split', 'train')}",
      num_classes=config.model.get("num_classes", 0))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       override_config: bool = False) -> Any:
  """Trains a GAN as `config` says, writing samples, metrics and checkpoints to
  `workdir` and resuming from the latest checkpoint there.

  Args:
    config: the experiment's config (see configs/dcgan.py).
    workdir: where the run's files go.
    override_config: continue a run in `workdir` whose config differs from
      `config` (the old config.json is kept as config.N.json); the checkpoint
      must still fit the new config's model and optimizer.

  Returns:
    The final state (host copy, numpy arrays).

  Raises:
    ValueError: a config that cannot work, or that differs from the run in
      `workdir` (without `override_config`); bad data.
    CheckpointError: checkpoints in `workdir` that cannot be read.
    DivergenceError: a step with a non-finite loss or gradient (unless
      `config.train.skip_nonfinite`); training stops there, and nothing after
      the last checkpoint is saved.
    TrainingInterrupted: SIGTERM or SIGINT; a checkpoint was saved first.
    WorkdirLocked: another run is writing to `workdir` (`jaxgan.train.lock`).
  """
  validation.check_config(config)
  config_changes = workdir_lib.check_config_file(config, workdir, override_config)
  checkpoint_lib.check_directory(workdir_lib.checkpoint_dir(workdir))
  is_main = jax.process_index() == 0
  with contextlib.ExitStack() as stack:
    # One run writes to a workdir: a second is refused here, before compiling.
    stack.enter_context(lock_lib.hold_all([workdir]))
    dataset, held_out = setup.load_dataset(config)
    validation.check_data(config, dataset)
    evaluator = _evaluator(config, dataset, workdir)
    cond_shape = None if dataset.sources is None else dataset.sources.shape[1:]
    state, p_train_step, sampler = setup.build(config, dataset.images.shape[1:], cond_shape)
    state = setup.init_from_data(config, state, dataset)  # weight norm's, if the model has it
    os.makedirs(workdir, exist_ok=True)
    checkpointer = checkpoint_lib.Checkpointer(workdir_lib.checkpoint_dir(workdir),
                                               max_to_keep=config.train.max_checkpoints)
    stack.callback(checkpointer.close)
    stack.callback(checkpointer.wait)  # the last checkpoint is complete, whatever stopped us
    start_step, state = workdir_lib.restore(checkpointer, state, bool(config_changes))
    if is_main:
      workdir_lib.write_config(config, workdir, keep_old=bool(config_changes))
      workdir_lib.trim_metrics(workdir, start_step)
    # Opened after the trim, which replaces metrics.jsonl.
    writer = stack.enter_context(contextlib.closing(
        writers.MetricWriter(workdir, enabled=is_main)))
    batches = setup.Batches(config, dataset, start_step)
    stack.callback(batches.close)
    progress = stack.enter_context(tqdm.tqdm(
        total=config.train.num_steps, initial=start_step, disable=not is_main,
        desc="train", unit="step", dynamic_ncols=True))
    member = loop.Member("", config, workdir, writer, checkpointer, is_main)
    actions = actions_lib.standard(
        [member], [sampling.make_painter(config, sampler, dataset, held_out)],
        [evaluator] if evaluator is not None else None, sampler, len(dataset), progress)
    step_rng = setup.replicate(jax.random.fold_in(jax.random.PRNGKey(config.seed), 1))
    state = loop.train(
        setup.replicate(state),
        lambda state, batch: p_train_step(state, batch, step_rng, batches.data),
        batches, actions, start_step=start_step, num_steps=config.train.num_steps,
        steps_per_call=config.train.steps_per_call,
        per_member=lambda tree: [checkpoint_lib.host_copy(tree)], progress=progress)
  return checkpoint_lib.host_copy(state)
