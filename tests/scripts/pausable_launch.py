"""Runs launch.py, pausing at a chosen moment so that a test can kill it there.

  python tests/scripts/pausable_launch.py PAUSE CONTROL_DIR [launch.py flags ...]

PAUSE is one of
  step:N    before the training call that starts from step N (the main thread
            waits; the checkpoints already started go on being written);
  commit:N  in orbax's commit of checkpoint N, after all its files are written
            and before the rename that completes it (the main thread trains on).
When the moment comes, the process creates CONTROL_DIR/paused and waits until
CONTROL_DIR/go exists. Nothing else differs from `python launch.py ...`.
"""

import os
import sys
import time

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, REPO)

import jax  # noqa: E402
from absl import app  # noqa: E402
from orbax.checkpoint._src.path import atomicity  # noqa: E402

from jaxgan.train import setup  # noqa: E402


def _pause(control_dir: str) -> None:
  with open(os.path.join(control_dir, "paused"), "w"):
    pass
  while not os.path.exists(os.path.join(control_dir, "go")):
    time.sleep(0.02)


def _pause_before_step(step: int, control_dir: str) -> None:
  build = setup.build

  def paused_build(*args, **kwargs):
    state, p_train_step, sampler = build(*args, **kwargs)

    def train_step(state, *rest):
      if int(jax.device_get(state.step)[0]) == step:
        _pause(control_dir)
      return p_train_step(state, *rest)
    return state, train_step, sampler

  setup.build = paused_build


def _pause_in_commit(step: int, control_dir: str) -> None:
  finalize = atomicity.AtomicRenameTemporaryPath.finalize

  async def paused_finalize(self, *args, **kwargs):
    if self.get_final().name == str(step):
      _pause(control_dir)
    return await finalize(self, *args, **kwargs)

  atomicity.AtomicRenameTemporaryPath.finalize = paused_finalize


def main():
  where, control_dir, *flags = sys.argv[1:]
  kind, step = where.split(":")
  {"step": _pause_before_step, "commit": _pause_in_commit}[kind](int(step), control_dir)
  sys.argv = [os.path.join(REPO, "launch.py"), *flags]
  import launch  # noqa: PLC0415  (defines the flags)
  app.run(launch.main, flags_parser=launch.parse_flags)


if __name__ == "__main__":
  main()
