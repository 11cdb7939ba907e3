"""Joining a multi-process run (several hosts, or several processes on one),
and the few host-level collectives the training loop needs.

A multi-process run is JAX's: every process runs the same command, and
`jax.distributed.initialize` connects them before any computation, after
which `jax.devices()` lists every process's devices and a pmapped step runs
over all of them (`jax.process_index()` of `jax.process_count()`). How a
process finds the others:

- 'explicit': `coordinator_address` (host:port of process 0),
  `num_processes` and `process_id`, given on each process's command line;
- 'auto': JAX's own cluster detection: Cloud TPU (pod slices: every worker
  runs the same command), SLURM (`srun`), Open MPI (`mpirun`), or the
  `JAX_COORDINATOR_ADDRESS`/`JAX_NUM_PROCESSES`/`JAX_PROCESS_ID` variables;
- 'off': a single process (the default).
"""

from __future__ import annotations

import json
from typing import Any

import jax
import numpy as np
from absl import logging
from jax.experimental import multihost_utils

MODES = ("off", "auto", "explicit")


def check(mode: str, coordinator_address: str | None, num_processes: int | None,
          process_id: int | None) -> str:
  """The mode the flags ask for ('off', 'auto' or 'explicit'); ValueError,
  saying which flag to set, for flags that cannot work together.

  `mode` 'off' with a coordinator address given means 'explicit'.
  """
  if mode not in MODES:
    raise ValueError(f"Unknown --multiprocess={mode!r}; valid: {', '.join(MODES)}.")
  given = {"--coordinator_address": coordinator_address,
           "--num_processes": num_processes, "--process_id": process_id}
  if mode == "off" and coordinator_address:
    mode = "explicit"
  if mode == "off":
    stray = [k for k, v in given.items() if v is not None]
    if stray:
      raise ValueError(f"{', '.join(stray)} given without --coordinator_address: "
                       "set it (host:port of process 0), or --multiprocess=auto "
                       "to let JAX find the other processes.")
    return mode
  if mode == "explicit":
    missing = [k for k, v in given.items() if v is None or v == ""]
    if missing:
      raise ValueError(f"--multiprocess=explicit needs {', '.join(missing)} (every "
                       "process: the same address and count, its own id from 0).")
  if num_processes is not None and num_processes < 1:
    raise ValueError(f"--num_processes must be >= 1, got {num_processes}.")
  if process_id is not None and num_processes is not None and not (
      0 <= process_id < num_processes):
    raise ValueError(f"--process_id must be in 0..{num_processes - 1} "
                     f"(--num_processes={num_processes}), got {process_id}.")
  return mode


def initialize(mode: str, coordinator_address: str | None = None,
               num_processes: int | None = None, process_id: int | None = None,
               initialization_timeout: int = 300) -> None:
  """Joins the multi-process run as `check` reads the flags (nothing for
  'off'). Must run before anything touches a JAX device."""
  mode = check(mode, coordinator_address, num_processes, process_id)
  if mode == "off":
    return
  kwargs = {k: v for k, v in dict(coordinator_address=coordinator_address or None,
                                  num_processes=num_processes,
                                  process_id=process_id).items() if v is not None}
  logging.info("Joining a multi-process run (%s%s).", mode,
               "".join(f", {k}={v}" for k, v in kwargs.items()))
  jax.distributed.initialize(initialization_timeout=initialization_timeout, **kwargs)
  logging.info("Process %d of %d; %d local devices of %d.", jax.process_index(),
               jax.process_count(), jax.local_device_count(), jax.device_count())


# -- Host-level collectives (every process must call them, in the same order) --

def any_process(flag: bool) -> bool:
  """Whether `flag` is set on any process."""
  if jax.process_count() == 1:
    return flag
  return bool(np.any(multihost_utils.process_allgather(np.int32(flag))))


def gather_json(value: Any) -> list[Any]:
  """Every process's `value` (JSON-serialisable), in process order."""
  if jax.process_count() == 1:
    return [value]
  data = np.frombuffer(json.dumps(value).encode(), np.uint8)
  size = int(np.max(multihost_utils.process_allgather(np.int64(len(data)))))
  padded = np.zeros(size, np.uint8)
  padded[:len(data)] = data
  out = []
  for row in np.asarray(multihost_utils.process_allgather(padded)):
    out.append(json.loads(bytes(row).rstrip(b"\0").decode()))
  return out


def gather_trees(tree: Any) -> Any:
  """Host pytrees with a leading axis, concatenated over processes in
  process order (every process's `tree` has the same structure and shapes)."""
  if jax.process_count() == 1:
    return tree
  return jax.tree.map(
      lambda x: np.asarray(x).reshape(-1, *np.shape(x)[2:]),
      multihost_utils.process_allgather(tree))


def barrier(name: str) -> None:
  """Waits until every process reaches the barrier called `name`."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)
