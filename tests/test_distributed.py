"""The multi-process flags (`jaxgan.distributed.check`) and the host-level
collectives in a single process (the multi-process runs: test_multihost)."""

import subprocess
import sys

import numpy as np
import pytest

from jaxgan import distributed

from conftest import REPO


@pytest.mark.parametrize("flags, mode", [
    (("off", None, None, None), "off"),
    (("auto", None, None, None), "auto"),
    (("auto", "h:1", 2, 1), "auto"),
    (("off", "h:1", 2, 0), "explicit"),  # an address alone means explicit
    (("explicit", "h:1", 2, 1), "explicit"),
])
def test_flags_that_work_give_their_mode(flags, mode):
  assert distributed.check(*flags) == mode


@pytest.mark.parametrize("flags, message", [
    (("off", None, 2, None), "--num_processes given without --coordinator_address"),
    (("off", None, None, 0), "--process_id given without --coordinator_address"),
    (("explicit", None, 2, 0), "needs --coordinator_address"),
    (("explicit", "h:1", None, 0), "needs --num_processes"),
    (("explicit", "h:1", 2, None), "needs --process_id"),
    (("off", "h:1", 2, 2), "--process_id must be in 0..1"),
    (("off", "h:1", 0, 0), "--num_processes must be >= 1"),
    (("slurm", None, None, None), "Unknown --multiprocess='slurm'"),
])
def test_bad_flags_say_which_flag_to_set(flags, message):
  with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
    distributed.check(*flags)


def test_bad_flags_fail_the_command_at_once():
  result = subprocess.run(
      [sys.executable, str(REPO / "launch.py"), f"--config={REPO / 'configs' / 'dcgan.py'}",
       "--num_processes=2"], capture_output=True, text=True, timeout=120)
  assert result.returncode == 1
  assert "Bad multi-process flags: --num_processes given without" in result.stderr


def test_collectives_of_a_single_process_are_its_own_values():
  assert distributed.any_process(True) and not distributed.any_process(False)
  assert distributed.gather_json({"a": [1, 2]}) == [{"a": [1, 2]}]
  tree = {"x": np.arange(6).reshape(2, 3)}
  np.testing.assert_array_equal(distributed.gather_trees(tree)["x"], tree["x"])
