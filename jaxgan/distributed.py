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

import functools
import json
import zlib
from typing import Any

import jax
import numpy as np
from absl import logging
from jax.sharding import NamedSharding, PartitionSpec

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

def _identity(tree: Any) -> Any:
  return tree


@functools.cache
def _gatherer() -> tuple[NamedSharding, Any]:
  """The sharding of a (processes, ...) array split over processes, and the
  jitted identity that replicates such arrays on every device (built once:
  the devices do not change after `initialize`)."""
  devices = np.array([[d for d in jax.devices() if d.process_index == p]
                      for p in range(jax.process_count())])
  mesh = jax.sharding.Mesh(devices, ("processes", "local_devices"))
  return NamedSharding(mesh, PartitionSpec("processes")), jax.jit(
      _identity, out_shardings=NamedSharding(mesh, PartitionSpec()))


def _allgather(tree: Any) -> Any:
  """Every process's host pytree `tree` (same structure, shapes and dtypes on
  all), stacked on a new leading axis in process order, as numpy arrays.

  As `multihost_utils.process_allgather`, but it waits for every local
  device's part of the collective, where that reads the first device's result
  and leaves the others running: a process that then exits can hang in the
  interpreter's teardown, its CPU client joining a thread still connecting to
  a process that is gone (~150 s, until the connection times out; seen on a
  loaded 2-core machine with a refused workdir).
  """
  split, replicate = _gatherer()

  def to_global(x):
    x = np.asarray(x)[None]
    return jax.make_array_from_single_device_arrays(
        (jax.process_count(), *x.shape[1:]), split,
        [jax.device_put(x, d) for d in jax.local_devices()])

  out = jax.block_until_ready(replicate(jax.tree.map(to_global, tree)))
  return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), out)


def any_process(flag: bool) -> bool:
  """Whether `flag` is set on any process."""
  if jax.process_count() == 1:
    return flag
  return bool(np.any(_allgather(np.int32(flag))))


def gather_json(value: Any) -> list[Any]:
  """Every process's `value` (JSON-serialisable), in process order."""
  if jax.process_count() == 1:
    return [value]
  data = np.frombuffer(json.dumps(value).encode(), np.uint8)
  size = int(np.max(_allgather(np.int32(len(data)))))
  padded = np.zeros(size, np.uint8)
  padded[:len(data)] = data
  return [json.loads(bytes(row).rstrip(b"\0").decode()) for row in _allgather(padded)]


def gather_trees(tree: Any) -> Any:
  """Host pytrees with a leading axis, concatenated over processes in
  process order (every process's `tree` has the same structure and shapes)."""
  if jax.process_count() == 1:
    return tree
  return jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), _allgather(tree))


def barrier(name: str) -> None:
  """Waits until every process reaches the barrier called `name` (an error if
  another process reached a barrier of another name: the processes have gone
  out of step)."""
  if jax.process_count() == 1:
    return
  names = _allgather(np.uint32(zlib.crc32(name.encode())))
  if not np.all(names == names[0]):
    raise RuntimeError(f"Barrier {name!r}: the processes reached barriers of "
                       f"different names (crc32 {names.tolist()}); they are out "
                       "of step.")
