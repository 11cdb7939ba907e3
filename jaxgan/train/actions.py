"""Periodic actions: what the training loop does after calls of the step.

Each action owns its schedule (`PeriodicAction`: every N steps, and at the
last step) and acts for every member the loop trains (`loop.Member`: one for
a single run, several for a vectorised sweep), so that each member writes to
its own workdir what a single run writes. After the same call they run in
the order `standard` gives: the divergence guard, metrics, samples,
evaluation, checkpoints, and the stop on a signal (after the checkpoint of
that step, which it then need not save again).
"""

import dataclasses
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np
from absl import logging

from jaxgan import checkpoint as checkpoint_lib
from jaxgan import data as data_lib
from jaxgan import distributed, evaluation
from jaxgan.train import loop, sampling, writers
from jaxgan.train import state as state_lib
from jaxgan.train import workdir as workdir_lib


class DivergenceError(RuntimeError):
  """A training step produced a non-finite loss or gradient."""


class TrainingInterrupted(Exception):
  """Training stopped on SIGTERM or SIGINT, after saving a checkpoint.

  Attributes:
    signum: the signal received.
    step: the step training stopped at (and saved).
  """

  def __init__(self, signum: int, step: int, message: str):
    super().__init__(message)
    self.signum, self.step = signum, step


@dataclasses.dataclass
class Everyone:
  """The members of a vectorised sweep spread over several processes, each
  training its own share (the actions' `members`). Checkpoints are saved by
  all processes together (orbax's multi-process saving: process 0 writes),
  so the actions that save one gather the states of every member first.

  Attributes:
    members: every process's members, in the sweep's order (the other
      processes' have no writer).
    gather: this process's members' host states -> every member's (all
      processes call it together).
  """
  members: Sequence[loop.Member]
  gather: Callable[[list], list]


class PeriodicAction:
  """Something the loop does every `every` steps and at the last step.

  `every=0` means never, unless a subclass says otherwise (`Evaluate` runs
  at the end). The loop calls `start(step)` before the first call of the
  step, the action after every call (`action(call)`, which runs
  `apply(call)` when `due(call.step)`), and `close()` at the end; it ends
  each call at the next step an action is due (`steps_to_next`).
  """

  def __init__(self, every: int, num_steps: int):
    self.every, self.num_steps = every, num_steps

  def due(self, step: int) -> bool:
    """Whether to act after `step` steps."""
    return self.every > 0 and (step % self.every == 0 or step == self.num_steps)

  def steps_to_next(self, step: int) -> int:
    """Steps from `step` to the next one the action may be due at (or the end)."""
    remaining = self.num_steps - step
    return min(remaining, self.every - step % self.every) if self.every > 0 else remaining

  def start(self, step: int) -> None:
    """Called once before the first call, `step` steps into the run."""
    del step

  def __call__(self, call: loop.Call) -> None:
    if self.due(call.step):
      self.apply(call)

  def apply(self, call: loop.Call) -> None:
    raise NotImplementedError

  def close(self) -> None:
    """Called once at the end, however training ends."""


# The keys of a call's metrics (`step.train_steps`) that are not a step
# metric's mean.
_CALL_KEYS = ("min", "max", "nonfinite", "finite_steps", "nonfinite_step",
              "nonfinite_count")


class _Window:
  """A member's metrics since the last log: means weighted by each call's
  finite steps, min of mins, max of maxes, and the skipped updates."""

  def __init__(self):
    self.steps, self.skipped = 0, 0
    self.sums, self.mins, self.maxs = {}, {}, {}

  def add(self, metrics: dict) -> None:
    n = int(metrics["finite_steps"])
    self.steps += n
    self.skipped += int(metrics["nonfinite_count"])
    for name in metrics["min"]:
      self.sums.setdefault(name, 0.0)
      self.mins.setdefault(name, np.inf)
      self.maxs.setdefault(name, -np.inf)
      if n:
        self.sums[name] += float(metrics[name]) * n
        self.mins[name] = min(self.mins[name], float(metrics["min"][name]))
        self.maxs[name] = max(self.maxs[name], float(metrics["max"][name]))

  def scalars(self, extremes: Sequence[str]) -> dict:
    """The window's means (NaN without a finite step), and the min and max of
    the metrics `extremes` as name_min, name_max."""
    none = lambda x: x if self.steps else float("nan")
    out = {name: none(total / max(self.steps, 1)) for name, total in self.sums.items()}
    for name in extremes:
      if name in self.sums:
        out[f"{name}_min"], out[f"{name}_max"] = none(self.mins[name]), none(
            self.maxs[name])
    return out


class LogMetrics(PeriodicAction):
  """Writes each member's metrics, averaged over the steps since the last
  log, with the window's min and max of d_loss and g_loss (d_loss_min, ...),
  steps_per_sec and, with `skip_nonfinite`, the number of skipped updates."""

  EXTREMES = ("d_loss", "g_loss")

  def __init__(self, members: Sequence[loop.Member], every: int, num_steps: int, *,
               skip_nonfinite: bool = False, progress=None):
    super().__init__(every, num_steps)
    self.members, self.skip_nonfinite, self.progress = members, skip_nonfinite, progress

  def start(self, step: int) -> None:
    self._time, self._step = time.time(), step
    self._windows = [_Window() for _ in self.members]

  def __call__(self, call: loop.Call) -> None:
    for window, metrics in zip(self._windows, call.metrics, strict=True):
      window.add(metrics)
    super().__call__(call)

  def apply(self, call: loop.Call) -> None:
    now = time.time()
    steps_per_sec = (call.step - self._step) / (now - self._time)
    for member, window in zip(self.members, self._windows, strict=True):
      scalars = {**window.scalars(self.EXTREMES), "steps_per_sec": steps_per_sec}
      if self.skip_nonfinite:
        scalars["skipped_updates"] = window.skipped
      member.writer.write_scalars(call.step, scalars)
      if self.progress is not None and member is self.members[0]:
        self.progress.set_postfix(d_loss=f"{scalars['d_loss']:.3f}",
                                  g_loss=f"{scalars['g_loss']:.3f}")
    self.start(call.step)


class WriteSamples(PeriodicAction):
  """Saves each member's sample grid (workdir/samples/step_NNNNNNN.png and
  TensorBoard) and logs the scores its painter gives under eval/."""

  def __init__(self, members: Sequence[loop.Member],
               painters: Sequence[sampling.Painter], every: int, num_steps: int):
    super().__init__(every, num_steps)
    self.members, self.painters = members, painters

  def start(self, step: int) -> None:
    del step
    for member in self.members:
      os.makedirs(workdir_lib.sample_dir(member.workdir), exist_ok=True)

  def apply(self, call: loop.Call) -> None:
    for member, paint, host in zip(self.members, self.painters, call.host_states,
                                   strict=True):
      grid, scores = paint(state_lib.sampling_params(host))
      if scores:
        member.writer.write_scalars(call.step, {f"eval/{k}": v for k, v in scores.items()})
      if member.is_main:
        writers.save_png(os.path.join(workdir_lib.sample_dir(member.workdir),
                                      f"step_{call.step:07d}.png"), grid)
        member.writer.write_image(call.step, "samples", grid)


class Evaluate(PeriodicAction):
  """Runs each member's evaluator (`config.evals`) every `evals.every` steps
  and at the end, and keeps the checkpoint of its best evaluation."""

  def __init__(self, members: Sequence[loop.Member],
               evaluators: Sequence[evaluation.Evaluator], sampler, num_steps: int,
               everyone: Everyone | None = None):
    super().__init__(evaluators[0].config.every, num_steps)
    self.members, self.evaluators, self.sampler = members, evaluators, sampler
    self.everyone = everyone
    self._best = {}

  def due(self, step: int) -> bool:
    return self.evaluators[0].due(step, step == self.num_steps)

  def _best_checkpointer(self, member: loop.Member) -> checkpoint_lib.Checkpointer:
    if member.workdir not in self._best:
      self._best[member.workdir] = checkpoint_lib.Checkpointer(
          workdir_lib.best_checkpoint_dir(member.workdir), max_to_keep=1)
    return self._best[member.workdir]

  def apply(self, call: loop.Call) -> None:
    improved = []
    for i, (member, evaluator) in enumerate(zip(self.members, self.evaluators,
                                                strict=True)):
      host = call.host_states[i]
      results = evaluator(sampling.make_sample_fn(
          self.sampler, state_lib.sampling_params(host),
          member.config.model.latent_dim), call.step)
      member.writer.write_scalars(call.step,
                                  {f"eval/{k}": v for k, v in results.items()})
      improved.append(bool(evaluator.update_best(results, call.step)))
    members, states = self.members, call.host_states
    if self.everyone is not None:  # saved by all processes together
      improved = [b for bs in distributed.gather_json(improved) for b in bs]
      if not any(improved):
        return
      members, states = self.everyone.members, self.everyone.gather(states)
    for member, host, better in zip(members, states, improved, strict=True):
      if better:
        checkpointer = self._best_checkpointer(member)
        checkpointer.save(call.step, host, member.position(call.step))
        if self.everyone is not None:  # one multi-process save at a time
          checkpointer.wait()

  def close(self) -> None:
    for checkpointer in self._best.values():
      checkpointer.wait()
      checkpointer.close()


class CheckSaves(PeriodicAction):
  """After every call, first: stops training if a checkpoint written in the
  background failed (a full disk), rather than training on to the next save."""

  def __init__(self, members: Sequence[loop.Member], num_steps: int):
    super().__init__(0, num_steps)  # sets no call's length
    self.members = members

  def __call__(self, call: loop.Call) -> None:
    for member in self.members:
      member.checkpointer.check()


class SaveCheckpoints(PeriodicAction):
  """Saves each member's checkpoint (asynchronously); `saved_step` is the
  step of the last one."""

  def __init__(self, members: Sequence[loop.Member], every: int, num_steps: int,
               everyone: Everyone | None = None):
    super().__init__(every, num_steps)
    self.members, self.everyone = members, everyone

  @property
  def saved_members(self) -> Sequence[loop.Member]:
    """The members whose checkpoints this process saves (with the others)."""
    return self.members if self.everyone is None else self.everyone.members

  def start(self, step: int) -> None:
    self.saved_step = step

  def apply(self, call: loop.Call) -> None:
    states = (call.host_states if self.everyone is None
              else self.everyone.gather(call.host_states))
    for member, host in zip(self.saved_members, states, strict=True):
      member.checkpointer.save(call.step, host, member.position(call.step))
      if self.everyone is not None:
        # orbax's multi-process saves share barrier names: one at a time.
        member.checkpointer.wait()
    self.saved_step = call.step


class StopSignals:
  """While active (in the main thread), the first SIGTERM or SIGINT only sets
  `received`, so that training can save a checkpoint and stop; a second one
  acts as it would otherwise (SIGINT: KeyboardInterrupt, SIGTERM: exit)."""

  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self):
    self.received = None
    self._previous = {}

  def __enter__(self) -> "StopSignals":
    if threading.current_thread() is threading.main_thread():
      for signum in self.SIGNALS:
        self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def _handle(self, signum, frame) -> None:
    del frame
    self.received = signum
    self._restore()
    logging.warning("Received %s: stopping after this step, with a checkpoint. Send "
                    "it again to stop at once.", signal.Signals(signum).name)

  def _restore(self) -> None:
    for signum, handler in self._previous.items():
      signal.signal(signum, signal.SIG_DFL if handler is None else handler)
    self._previous = {}

  def __exit__(self, *exc_info) -> None:
    self._restore()


class StopOnSignal(PeriodicAction):
  """After every call: on SIGTERM or SIGINT (in any process), saves the
  members' checkpoints of this step (unless `checkpoints` just did) and
  raises TrainingInterrupted."""

  def __init__(self, members: Sequence[loop.Member], checkpoints: SaveCheckpoints,
               num_steps: int):
    super().__init__(0, num_steps)
    self.members, self.checkpoints = members, checkpoints
    self._signals = StopSignals()

  def start(self, step: int) -> None:
    del step
    self._signals.__enter__()

  def __call__(self, call: loop.Call) -> None:
    if not distributed.any_process(self._signals.received is not None):
      return
    if self.checkpoints.saved_step != call.step:
      self.checkpoints.apply(call)
    for member in self.checkpoints.saved_members:
      member.checkpointer.wait()
    signum = self._signals.received or signal.SIGTERM
    where = (self.members[0].checkpointer.directory if len(self.members) == 1
             else "each member's checkpoints")
    raise TrainingInterrupted(
        signum, call.step, f"Stopped by {signal.Signals(signum).name} at step "
        f"{call.step}, saved in {where}; run the same command to resume.")

  def close(self) -> None:
    self._signals.__exit__()


def json_number(x: float) -> float | str:
  x = float(x)
  return x if np.isfinite(x) else str(x)  # 'nan', 'inf': JSON has no such numbers


class GuardDivergence(PeriodicAction):
  """After every call: a member's non-finite step (loss or gradient) writes
  its workdir/divergence.json (the step's metrics and batch) and raises
  DivergenceError; with `skip_nonfinite` such updates were skipped by the
  step, and are only reported."""

  FIRST = ("d_loss", "g_loss", "gradient_penalty", "d_grad_norm", "g_grad_norm")

  def __init__(self, members: Sequence[loop.Member], dataset_size: int, num_steps: int,
               *, skip_nonfinite: bool = False, everyone: Everyone | None = None):
    super().__init__(0, num_steps)
    self.members, self.dataset_size = members, dataset_size
    self.skip_nonfinite, self.everyone = skip_nonfinite, everyone

  def __call__(self, call: loop.Call) -> None:
    bad = [(member, metrics) for member, metrics in zip(self.members, call.metrics,
                                                        strict=True)
           if metrics["nonfinite_count"]]
    for member, metrics in bad if self.skip_nonfinite else ():
      logging.warning("%sSkipped %d update(s) with a non-finite loss or gradient in "
                      "steps %d-%d (first: step %d).",
                      f"{member.name}: " if member.name else "",
                      int(metrics["nonfinite_count"]),
                      call.step - call.num_call_steps + 1, call.step,
                      int(metrics["nonfinite_step"]))
    if self.skip_nonfinite:
      return
    if self.everyone is not None:  # other processes' members: stop together
      if not distributed.any_process(bool(bad)):
        return
      for member in self.everyone.members:  # orbax waits on every process
        member.checkpointer.wait()
      if not bad:
        raise DivergenceError(
            f"Sweep members trained by another process diverged after step "
            f"{call.step}; stopped there, saving nothing more (see the "
            "divergence.json in their workdirs and that process's log).")
    if bad:
      raise self._diverged(bad)

  def _record(self, member: loop.Member, metrics: dict) -> tuple[int, dict, str]:
    """(step, non-finite metrics, message tail) of a member that diverged,
    after writing its divergence.json."""
    step, values = int(metrics["nonfinite_step"]), metrics["nonfinite"]
    order = lambda k: (self.FIRST.index(k) if k in self.FIRST else len(self.FIRST), k)
    bad = {k: float(values[k]) for k in sorted(values, key=order)
           if not np.isfinite(values[k])}
    member.checkpointer.wait()
    last_good = member.checkpointer.latest_step()
    path = os.path.join(member.workdir, "divergence.json")
    if member.is_main:
      record = {
          "step": step, "nonfinite": list(bad),
          "metrics": {k: json_number(v) for k, v in sorted(values.items())},
          "batch_indices": data_lib.batch_indices(
              self.dataset_size, member.global_batch, member.config.seed,
              step - 1).tolist(),
          "last_checkpoint": last_good,
          "checkpoint_dir": str(member.checkpointer.directory)}
      with open(f"{path}.tmp", "w") as f:
        json.dump(record, f, indent=2)
      os.replace(f"{path}.tmp", path)
    kept = (f"the last checkpoint, step {last_good} in {member.checkpointer.directory}, "
            "is kept" if last_good is not None else "there is no checkpoint yet")
    return step, bad, f"{kept}. The step's metrics and batch are in {path}"

  def _diverged(self, bad: list) -> DivergenceError:
    records = [(member.name, *self._record(member, metrics)) for member, metrics in bad]
    if len(self.members) == 1:
      _, step, values, tail = records[0]
      return DivergenceError(
          f"Training diverged at step {step}: non-finite "
          + ", ".join(f"{k}={v}" for k, v in values.items())
          + f". Stopped there, saving nothing more; {tail}. Lower the learning "
          "rates, or set config.train.skip_nonfinite=True to skip such updates "
          "(also when resuming).")
    return DivergenceError(
        f"Sweep members diverged (member, step): {[(r[0], r[1]) for r in records]}. "
        "Stopped there, saving nothing more; the last checkpoints are kept, and each "
        "member's divergence.json holds the step's metrics and batch. Lower their "
        "learning rates, leave them out, or set train.skip_nonfinite=True.")


def standard(members: Sequence[loop.Member], painters: Sequence[sampling.Painter],
             evaluators: Sequence[evaluation.Evaluator] | None, sampler,
             dataset_size: int, progress=None,
             everyone: Everyone | None = None) -> list[PeriodicAction]:
  """The actions of a run of `members[0].config.train` (the members share
  its schedule), in the order they run after a call; `everyone`: the
  members of every process of a sweep spread over processes."""
  train = members[0].config.train
  num_steps, skip = train.num_steps, bool(train.get("skip_nonfinite", False))
  checkpoints = SaveCheckpoints(members, train.checkpoint_every, num_steps, everyone)
  return [
      CheckSaves(checkpoints.saved_members, num_steps),
      GuardDivergence(members, dataset_size, num_steps, skip_nonfinite=skip,
                      everyone=everyone),
      LogMetrics(members, train.log_every, num_steps, skip_nonfinite=skip,
                 progress=progress),
      WriteSamples(members, painters, train.sample_every, num_steps),
      *([Evaluate(members, evaluators, sampler, num_steps, everyone)]
        if evaluators else []),
      checkpoints,
      StopOnSignal(members, checkpoints, num_steps)]
