"""Two processes joined with `jax.distributed.initialize` over loopback, 4 CPU
devices each, train what one process with 8 devices trains (issue 9).

Each process feeds its own rows of every global batch (`shard_batch`), only
process 0 writes samples and metrics, and the processes save a checkpoint
together and resume from it (tests/scripts/multihost_worker.py). WGAN-GP: the
penalty pairs each real image with its fake and interpolation weight, so rows
fed to the wrong device would change the result.
"""

import json
import os
import signal
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxgan.train import trainer

from conftest import REPO

OVERRIDES = {
    "model.image_size": 28, "model.latent_dim": 16, "model.g_width": 8,
    "model.d_width": 8, "model.d_batch_norm": False, "loss.name": "wasserstein",
    "loss.gp_weight": 10.0, "train.batch_size": 16,
    "train.num_steps": 4, "train.log_every": 2, "train.sample_every": 2,
    "train.checkpoint_every": 2, "train.num_samples": 16,
}


def _config():
  sys.path.insert(0, str(REPO))
  from configs import dcgan
  config = dcgan.get_config()
  for key, value in OVERRIDES.items():
    node = config
    *path, name = key.split(".")
    for part in path:
      node = node[part]
    node[name] = value
  return config


def _free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


@pytest.fixture(scope="module")
def workers(tmp_path_factory):
  """Starts the two workers; yields their output directory and processes."""
  out = tmp_path_factory.mktemp("multihost")
  port = _free_port()
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS="--xla_force_host_platform_device_count=4")
  processes = []
  for i in range(2):
    with open(out / f"stderr.{i}.txt", "w") as stderr:
      processes.append(subprocess.Popen(
          [sys.executable, str(REPO / "tests" / "scripts" / "multihost_worker.py"),
           str(i), "2", str(port), str(out / "run"), str(out), json.dumps(OVERRIDES)],
          env=env, stdout=subprocess.DEVNULL, stderr=stderr))
  yield out, processes
  for p in processes:
    if p.poll() is None:
      p.send_signal(signal.SIGKILL)
      p.wait()


@pytest.fixture(scope="module")
def one_process(workers, tmp_path_factory):
  """The same training in this process (8 devices), while the workers run."""
  del workers  # started first
  workdir = str(tmp_path_factory.mktemp("one_process"))
  return jax.tree.leaves(trainer.train_and_evaluate(_config(), workdir))


@pytest.fixture(scope="module")
def two_processes(workers, one_process):
  """The workers' output directory, once both have finished."""
  del one_process  # computed while they run
  out, processes = workers
  for p in processes:
    try:
      p.wait(timeout=480)
    except subprocess.TimeoutExpired:
      break
  for i, p in enumerate(processes):
    assert p.returncode == 0, (out / f"stderr.{i}.txt").read_text()[-3000:]
  return out


def test_two_processes_train_to_the_parameters_of_one(two_processes, one_process):
  finals = [np.load(two_processes / f"final.{i}.npz") for i in range(2)]
  assert len(finals[0].files) == len(one_process)
  for i, want in enumerate(one_process):
    got = finals[0][str(i)]
    np.testing.assert_array_equal(finals[1][str(i)], got)  # the processes agree
    scale = np.max(np.abs(want)) + 1e-12
    assert np.max(np.abs(got - want)) / scale < 1e-4, i


def test_only_process_0_writes_samples_and_metrics(two_processes):
  opened = [json.loads((two_processes / f"opened.{i}.json").read_text())
            for i in range(2)]
  assert not [f for f in opened[1] if not f.startswith("checkpoints")], opened[1]
  assert {"metrics.jsonl", "samples/step_0000002.png.tmp", "config.json.tmp"} <= set(
      opened[0])
  run = two_processes / "run"
  assert sorted(os.listdir(run / "samples")) == ["step_0000002.png", "step_0000004.png"]
  with open(run / "metrics.jsonl") as f:
    assert [json.loads(line)["step"] for line in f] == [2, 4]


def test_checkpoints_save_and_restore_in_the_multiprocess_run(two_processes):
  assert sorted(os.listdir(two_processes / "run" / "checkpoints")) == ["2", "4"]
  for i in range(2):  # the second run of each process resumed from step 2
    assert "Resumed from step 2" in (two_processes / f"stderr.{i}.txt").read_text()
