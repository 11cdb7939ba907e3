"""The training loop, for a single run and for the members of a vectorised
sweep: calls of the compiled step, each followed by the periodic actions
(`jaxgan.train.actions`), which say how long the next call may be."""

import dataclasses
import functools
import os
from collections.abc import Callable, Sequence
from typing import Any

import jax
import ml_collections
from absl import logging

from jaxgan import checkpoint as checkpoint_lib
from jaxgan.train import writers


@dataclasses.dataclass
class Member:
  """One run the loop trains and writes: a single run, or one member of a
  vectorised sweep (which writes to its workdir what a single run writes).

  Attributes:
    name: the member's name ('' for a single run).
    config: its config.
    workdir: where its files go.
    writer: its metrics.jsonl and TensorBoard writer.
    checkpointer: its checkpoints (`jaxgan.train.workdir.checkpoint_dir`).
    is_main: whether this process writes its files (process 0).
  """
  name: str
  config: ml_collections.ConfigDict
  workdir: str
  writer: writers.MetricWriter
  checkpointer: checkpoint_lib.Checkpointer
  is_main: bool = True

  @property
  def global_batch(self) -> int:
    return self.config.train.n_critic * self.config.train.batch_size

  def position(self, step: int) -> dict:
    """Where its data stream is after `step` steps, saved with a checkpoint."""
    return {"seed": self.config.seed, "batches_seen": step,
            "global_batch": self.global_batch}


def _process_age() -> float:
  """Seconds since this process started (Linux's /proc), else NaN."""
  try:
    with open("/proc/self/stat") as f:
      ticks = float(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
      uptime = float(f.read().split()[0])
    return uptime - ticks / os.sysconf("SC_CLK_TCK")
  except (OSError, ValueError, IndexError):
    return float("nan")


class Call:
  """What the actions see after a call of the compiled step.

  Attributes:
    step: the steps done so far (the call ran steps step - num_call_steps + 1
      .. step).
    num_call_steps: how many steps the call ran.
    num_steps: the steps of the whole run.
    state: the state on the devices (replicated, or the members' stacked).
    metrics: each member's metrics of the call on the host (see
      `jaxgan.train.step.train_steps`), fetched once, on first use.
    host_states: each member's state on the host, fetched once, on first use.
  """

  def __init__(self, step: int, num_call_steps: int, num_steps: int, state: Any,
               metrics: Any, per_member: Callable[[Any], list]):
    self.step, self.num_call_steps, self.num_steps = step, num_call_steps, num_steps
    self.state = state
    self._metrics, self._per_member = metrics, per_member

  @functools.cached_property
  def metrics(self) -> list[dict]:
    return self._per_member(self._metrics)

  @functools.cached_property
  def host_states(self) -> list:
    return self._per_member(self.state)


def train(state: Any, train_fn: Callable, batches: Callable[[int, int], Any],
          actions: Sequence[Any], *, start_step: int, num_steps: int,
          steps_per_call: int, per_member: Callable[[Any], list],
          progress: Any = None) -> Any:
  """Trains from `start_step` to `num_steps`; returns the state on the devices.

  Each call runs `steps_per_call` steps, or fewer to stop where an action is
  due next, and is followed by every action in order (see
  `jaxgan.train.actions.PeriodicAction`); they are started before the first
  call and closed at the end, however training ends.

  Args:
    state: the state on the devices.
    train_fn: `train_fn(state, batches) -> (state, metrics)`, the compiled
      step with its other arguments bound.
    batches: `batches(step, k)`, the batches of steps step+1 .. step+k.
    actions: what to do after the calls.
    start_step: the steps already done (a resumed run).
    num_steps: the steps of the whole run.
    steps_per_call: the most steps one call runs.
    per_member: device arrays -> each member's host copy (a list of one for
      a single run).
    progress: a tqdm bar, advanced by each call's steps.
  """
  step = start_step
  for action in actions:
    action.start(step)
  try:
    while step < num_steps:
      k = min([steps_per_call] + [action.steps_to_next(step) for action in actions])
      state, metrics = train_fn(state, batches(step, k))
      if step == start_step:  # how long the start took (benchmarks/startup.py reads it)
        jax.block_until_ready(metrics)
        logging.info("First call done: steps %d-%d, %.1f s after the process started.",
                     step + 1, step + k, _process_age())
      step += k
      if progress is not None:
        progress.update(k)
      call = Call(step, k, num_steps, state, metrics, per_member)
      for action in actions:
        action(call)
  finally:
    for action in reversed(actions):
      action.close()
  return state
