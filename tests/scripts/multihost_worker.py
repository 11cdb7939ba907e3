"""One process of a multi-process run on this machine (tests/test_multihost.py).

  python tests/scripts/multihost_worker.py PROCESS_ID NUM_PROCESSES PORT WORKDIR \
      OUT_DIR CONFIG_JSON

Joins the other processes with `jax.distributed.initialize` over loopback,
checks that pmap numbers the devices process by process (as `shard_batch` and
the step's `_local_slice` assume), then trains CONFIG_JSON (overrides of
configs/dcgan.py) in WORKDIR twice: to step train.num_steps // 2, and on to
train.num_steps, resuming from the first run's checkpoint. Writes to OUT_DIR
`final.<id>.npz` (the final state's leaves) and `opened.<id>.json` (the files
under WORKDIR this process opened for writing).
"""

import json
import os
import sys

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, REPO)


def main(process_id, num_processes, port, workdir, out_dir, config_json):
  process_id, num_processes = int(process_id), int(num_processes)
  workdir = os.path.abspath(workdir)
  opened = set()

  def audit(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
      path, mode, flags = os.fsdecode(args[0]), args[1], args[2]
      writes = (any(c in mode for c in "wax+") if isinstance(mode, str)
                else bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)))
      if writes and os.path.abspath(path).startswith(workdir + os.sep):
        opened.add(os.path.relpath(os.path.abspath(path), workdir))
  sys.addaudithook(audit)

  import jax
  import numpy as np
  from absl import logging
  from jax import lax

  logging.set_verbosity(logging.INFO)  # "Resumed from step ..." goes to stderr

  jax.distributed.initialize(coordinator_address=f"localhost:{port}",
                             num_processes=num_processes, process_id=process_id)
  from jaxgan.train import trainer

  from configs import dcgan

  local = jax.local_device_count()
  index = jax.pmap(lambda x: lax.axis_index("i"), axis_name="i")(np.zeros(local))
  expected = process_id * local + np.arange(local)
  assert np.array_equal(np.asarray(index), expected), (index, expected)

  config = dcgan.get_config()
  for key, value in json.loads(config_json).items():
    node = config
    *path, name = key.split(".")
    for part in path:
      node = node[part]
    node[name] = value
  num_steps = config.train.num_steps
  config.train.num_steps = num_steps // 2
  trainer.train_and_evaluate(config, workdir)
  config.train.num_steps = num_steps
  state = trainer.train_and_evaluate(config, workdir)

  leaves = {str(i): np.asarray(x) for i, x in enumerate(jax.tree.leaves(state))}
  np.savez(os.path.join(out_dir, f"final.{process_id}.npz"), **leaves)
  with open(os.path.join(out_dir, f"opened.{process_id}.json"), "w") as f:
    json.dump(sorted(opened), f)
  jax.distributed.shutdown()


if __name__ == "__main__":
  main(*sys.argv[1:])
