"""Checkpoints of a run with orbax-checkpoint, in `workdir/checkpoints`.

A checkpoint holds two items: `state`, the whole training state pytree, and
`data`, a small JSON record of the input pipeline's position (the seed and the
number of global batches consumed), so a resumed run sees the same batches as
an uninterrupted one.
"""

from typing import Any

import jax
import orbax.checkpoint as ocp
from absl import logging
from etils import epath


class CheckpointError(RuntimeError):
  """A checkpoint exists but cannot be restored."""


class Checkpointer:
  """Saves and restores (state, data position) pairs, keeping the last few."""

  def __init__(self, directory: str, *, max_to_keep: int = 3):
    self.directory = epath.Path(directory).absolute()
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
        item_names=("state", "data"))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  def save(self, step: int, state: Any, data: dict, *, force: bool = False) -> bool:
    """Starts an asynchronous save of `state` (a host-side pytree) at `step`."""
    return self._manager.save(
        step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                      data=ocp.args.JsonSave(data)),
        force=force)

  def restore(self, template: Any, step: int | None = None) -> tuple[int, Any, dict]:
    """Restores the latest checkpoint (or `step`) into the structure of `template`.

    A checkpoint that cannot be read is reported and the one before it is
    tried; nothing is deleted. Raises CheckpointError when none can be read.
    """
    steps = [step] if step is not None else self.all_steps()[::-1]
    errors = []
    for s in steps:
      try:
        restored = self._manager.restore(
            s, args=ocp.args.Composite(state=ocp.args.StandardRestore(template),
                                       data=ocp.args.JsonRestore()))
      except Exception as e:  # orbax raises many types for damaged files.
        errors.append(f"step {s}: {type(e).__name__}: {e}")
        logging.warning("Checkpoint at step %d in %s cannot be restored (%s); "
                        "trying an earlier one.", s, self.directory, e)
        continue
      if errors:
        logging.warning("Resuming from step %d, an earlier checkpoint than the "
                        "latest, which could not be read.", s)
      return s, restored["state"], dict(restored["data"])
    raise CheckpointError(
        f"No checkpoint in {self.directory} could be restored:\n  "
        + "\n  ".join(errors)
        + "\nMove the directory aside to start afresh, or point --workdir elsewhere.")

  def wait(self) -> None:
    """Blocks until asynchronous saves have finished."""
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()


def host_copy(replicated_state: Any) -> Any:
  """The first device's copy of a pmap-replicated state, as numpy arrays."""
  return jax.device_get(jax.tree.map(lambda x: x[0], replicated_state))
