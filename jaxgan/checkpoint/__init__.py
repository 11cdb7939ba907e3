"""Checkpoints of a run with orbax-checkpoint, in `workdir/checkpoints`.

A checkpoint holds two items: `state`, the whole training state pytree, and
`data`, a small JSON record of the input pipeline's position (the seed and the
number of global batches consumed), so a resumed run sees the same batches as
an uninterrupted one.

Orbax writes each checkpoint into a temporary directory and renames it when
complete, so a process killed mid-write leaves no half checkpoint behind (the
temporary directory is removed by the next run). A checkpoint that is damaged
afterwards is skipped with a warning, and moved aside; one that cannot be read
at all, or a directory that cannot be read, is an error: a run never restarts
from scratch over checkpoints it could not read.

A checkpoint that cannot be written (a full disk) stops training with
`CheckpointSaveError`, naming the directory: saves run in the background, so
the error is found by `Checkpointer.check()` after the next call of the step
(or at the next save or wait), not hours later, and no checkpoint is saved
after it. Orbax deletes old checkpoints (`max_to_keep`) only after a new one is
complete, so the last complete checkpoint is kept and the run, started again
once there is space, resumes from it.
"""

import contextlib
import errno
import json
import os
import time
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging
from etils import epath

from jaxgan import distributed


class CheckpointError(RuntimeError):
  """A checkpoint exists but cannot be restored."""


class CheckpointSaveError(CheckpointError):
  """A checkpoint could not be written (a full disk, ...); training stopped."""


_DISK_FULL = ("No space left on device", "Disk quota exceeded",
              f"os_error_code='{errno.ENOSPC}'", f"os_error_code='{errno.EDQUOT}'")


def _disk_full(error: BaseException | None) -> bool:
  """Whether `error` (or one it was raised from) says the disk is full. Orbax
  reports tensorstore's failed writes as ValueError('RESOURCE_EXHAUSTED: ...
  No space left on device [os_error_code='28']'), not as OSError."""
  while error is not None:
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
      return True
    if any(text in str(error) for text in _DISK_FULL):
      return True
    error = error.__cause__ or error.__context__
  return False


def check_directory(directory: str) -> None:
  """Raises CheckpointError if `directory` exists in some form but cannot be
  listed: a file, a symbolic link to nowhere (an unmounted disk), a directory
  without read permission. A path that does not exist at all is fine."""
  directory = os.fspath(directory)
  if os.path.islink(directory) and not os.path.exists(directory):
    raise CheckpointError(
        f"The checkpoint directory {directory} is a symbolic link to "
        f"{os.readlink(directory)}, which cannot be reached (a disk not mounted?). "
        "Make it reachable to resume the run, or point --workdir elsewhere.")
  if not os.path.lexists(directory):
    return
  if not os.path.isdir(directory):
    raise CheckpointError(
        f"{directory} should be the checkpoint directory but is not a directory. "
        "Move it aside, or point --workdir elsewhere.")
  try:
    os.listdir(directory)
  except OSError as e:
    raise CheckpointError(
        f"Cannot read the checkpoint directory {directory} ({e}), so it cannot "
        "tell whether there is a run to resume. Fix its permissions, or point "
        "--workdir elsewhere.") from e


class CheckpointShapeError(CheckpointError, ValueError):
  """A checkpoint holds other arrays (names or shapes) than the state it is
  restored into: the model that saved it is not the config's model."""


def _leaf_name(path) -> str:
  """A leaf's path as orbax names it in a checkpoint's metadata
  ('generator.params.Dense_0.kernel'), for the state and the metadata alike."""
  return ".".join(str(next((getattr(k, a) for a in ("key", "name", "idx") if hasattr(k, a)),
                           k)) for k in path)


def _arrays(tree: Any) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
  """{leaf name: (shape, dtype)} of a state, an abstract state or a
  checkpoint's metadata tree."""
  return {_leaf_name(path): (tuple(leaf.shape), np.dtype(leaf.dtype))
          for path, leaf in jax.tree_util.tree_leaves_with_path(tree)
          if hasattr(leaf, "shape") and hasattr(leaf, "dtype")}


def _differences(template: Any, saved: Any) -> list[str]:
  """What the checkpoint `saved` holds otherwise than `template`, a line each."""
  want, got = _arrays(template), _arrays(saved)
  lines = [(name, f"saved {got[name][1]}{list(got[name][0])}, this run's "
                  f"{want[name][1]}{list(want[name][0])}")
           for name in want.keys() & got.keys() if want[name] != got[name]]
  lines += [(name, "not in the checkpoint") for name in want.keys() - got.keys()]
  lines += [(name, "saved, not in this run's state") for name in got.keys() - want.keys()]
  # The parameters first: the optimizer's moments repeat them.
  return [f"{name}: {what}" for name, what in
          sorted(lines, key=lambda line: ("opt_state" in line[0], line[0]))]


def _raise_if_other_model(differences: list[str], step: int, directory: Any) -> None:
  """Raises CheckpointShapeError naming `differences`, if there are any."""
  if not differences:
    return
  shown = differences[:6] + (
      [f"... and {len(differences) - 6} more"] if len(differences) > 6 else [])
  raise CheckpointShapeError(
      f"Checkpoint {step} in {directory} holds other arrays than this run's state "
      f"({len(differences)} differ), so it was saved by another model:\n  "
      + "\n  ".join(shown)
      + "\nResume with the config that saved it (the run's config.json in its "
      "workdir: a changed model kind, width, depth, normalisation, latent size or "
      "dtype changes the arrays), or train the new model in another --workdir. "
      "Nothing in the checkpoint directory was changed.")


class Checkpointer:
  """Saves and restores (state, data position) pairs, keeping the last few.

  In a multi-process run every process creates one, and calls `save` and
  `restore` at the same steps; all of them pass the same host (numpy) state.
  """

  def __init__(self, directory: str, *, max_to_keep: int = 3):
    check_directory(directory)
    self.directory = epath.Path(directory).absolute()
    self._max_to_keep = max_to_keep
    self._manager = self._open()
    self._saving: int | None = None  # the step of the last save started
    self._failed: CheckpointSaveError | None = None

  def _open(self) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            max_to_keep=self._max_to_keep, create=True,
            # Unfinished checkpoints of a killed run; complete ones are kept.
            cleanup_tmp_directories=True),
        item_names=("state", "data"))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  def save(self, step: int, state: Any, data: dict, *, force: bool = False) -> bool:
    """Starts an asynchronous save of `state` (a host-side pytree) at `step`.

    Raises CheckpointSaveError if this save, or the one before it, failed; and
    after any failed save (orbax's record of the checkpoints is then wrong).
    """
    if self._failed is not None:
      raise self._failed
    with self._saves_failing(step):
      # Waits for the previous save first: its error is raised here.
      saved = self._manager.save(
          step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                        data=ocp.args.JsonSave(data)),
          force=force)
    self._saving = step if saved else self._saving
    return saved

  @contextlib.contextmanager
  def _saves_failing(self, step: int | None):
    """Turns an error of the save of `step` (or of the one in the background)
    into CheckpointSaveError, once: the error names the directory and what to
    do, and `save` refuses to save after it."""
    try:
      yield
    except Exception as e:
      if self._failed is not None:
        raise
      step = self._saving if self._saving is not None else step
      complete = sorted(int(p.name) for p in self.directory.iterdir()
                        if p.name.isdigit()) if self.directory.is_dir() else []
      resume = (f"training resumes from step {complete[-1]}, the last complete "
                "checkpoint, which is kept" if complete else
                "there is no complete checkpoint yet, so training starts again")
      what = (f"The disk is full: free space on it (df -h {self.directory}) or move "
              "the run to a larger disk" if _disk_full(e) else "Fix the cause")
      self._failed = CheckpointSaveError(
          f"Could not write the checkpoint of step {step} in {self.directory} "
          f"({type(e).__name__}: {e}). Training stopped. {what}, then run the same "
          f"command: {resume}.")
      raise self._failed from e

  def restore(self, template: Any, step: int | None = None) -> tuple[int, Any, dict]:
    """Restores the latest checkpoint (or `step`) into the structure of `template`.

    A checkpoint that cannot be read is reported and the one before it is
    tried. When an earlier one is restored, the unreadable later ones are
    moved (not deleted) to `<directory>.unreadable/`, so that training can
    save those steps again. Raises CheckpointError when none can be read.
    """
    steps = [step] if step is not None else self.all_steps()[::-1]
    errors, unreadable = [], []
    for s in steps:
      try:
        restored = self._manager.restore(
            s, args=ocp.args.Composite(state=ocp.args.StandardRestore(template),
                                       data=ocp.args.JsonRestore()))
      except Exception as e:  # orbax raises many types for damaged files.
        # Or for a state of another structure (a changed model): that is
        # said as such, and the checkpoint is not taken for a damaged one.
        _raise_if_other_model(self._saved_differences(template, s), s, self.directory)
        errors.append(f"step {s}: {type(e).__name__}: {e}")
        unreadable.append(s)
        logging.warning("Checkpoint at step %d in %s cannot be restored (%s); "
                        "trying an earlier one.", s, self.directory, e)
        continue
      # Orbax restores the saved shapes whatever the template's: a changed
      # model width would otherwise fail later, deep in the step's trace.
      _raise_if_other_model(_differences(template, restored["state"]), s, self.directory)
      if unreadable:
        self._move_aside(unreadable)
        logging.warning("Resuming from step %d, an earlier checkpoint than the "
                        "latest, which could not be read.", s)
      return s, restored["state"], dict(restored["data"])
    raise CheckpointError(
        f"No checkpoint in {self.directory} could be restored:\n  "
        + "\n  ".join(errors)
        + "\nMove the directory aside to start afresh, or point --workdir elsewhere.")

  def _saved_differences(self, template: Any, step: int) -> list[str]:
    """`_differences` between `template` and checkpoint `step`'s metadata;
    none when its metadata file is not whole JSON (then the checkpoint is
    damaged: orbax then falls back to a partial tree of names)."""
    path = self.directory / str(step) / "state"
    try:
      json.loads((path / "_METADATA").read_text())
      with ocp.StandardCheckpointer() as reader:  # closed: it owns a thread pool
        saved = reader.metadata(path)
      return _differences(template, saved.item_metadata)
    except Exception:  # pylint: disable=broad-except
      return []

  def _move_aside(self, steps: list[int]) -> None:
    """Moves the checkpoints of `steps` to `<directory>.unreadable/`."""
    aside = epath.Path(f"{self.directory}.unreadable")
    if jax.process_index() == 0:
      aside.mkdir(parents=True, exist_ok=True)
      for s in steps:
        target = aside / str(s)
        if target.exists():
          target = aside / f"{s}.{time.strftime('%Y%m%d-%H%M%S')}"
        (self.directory / str(s)).rename(target)
        logging.warning("Moved the unreadable checkpoint %d to %s.", s, target)
    distributed.barrier("jaxgan_checkpoint_move_aside")
    self._manager.reload()

  def wait(self) -> None:
    """Blocks until asynchronous saves have finished; raises CheckpointSaveError
    if one failed (once: not again while that error stops training)."""
    if self._failed is None:
      with self._saves_failing(self._saving):
        self._manager.wait_until_finished()

  def check(self) -> None:
    """Raises CheckpointSaveError if a save in the background has failed;
    does not wait for one in progress. (In a multi-process run it does
    nothing: processes could find out at different steps and then wait for
    each other forever; they all find out at the next `save`.)"""
    if jax.process_count() == 1 and not self._manager.is_saving_in_progress():
      self.wait()

  def close(self) -> None:
    if self._failed is None:
      with self._saves_failing(self._saving):
        self._manager.close()
    else:
      self._manager.close()


def host_copy(replicated_state: Any) -> Any:
  """The first local device's copy of a pmap-replicated state, as numpy arrays.

  Reads that device's buffer directly: indexing (`x[0]`) would run a program
  over all local devices, which can deadlock a multi-process run on CPU. The
  arrays are copies, not views of the buffer: the next step may reuse it
  (donation) while an asynchronous checkpoint is still writing them.
  """
  return jax.tree.map(lambda x: np.array(x.addressable_shards[0].data)[0, ...],
                      replicated_state)
