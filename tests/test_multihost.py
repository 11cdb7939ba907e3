"""Multi-process runs from the command line: two `launch.py` processes joined
by `jax.distributed` over loopback (`--coordinator_address`, `--num_processes`,
`--process_id`), 4 CPU devices each (issue 18).

Each test starts its own pair of processes (every test is one scenario, so
pytest-xdist never runs a pair twice) and checks against this process with 8
devices:

- a run streaming its data (ArrayRecord) killed in one process and restarted
  in both resumes from its last checkpoint and ends with the parameters of the
  single-process run, and only process 0 writes samples and metrics;
- a workdir another run holds is refused in both processes at once;
- a vectorised sweep of 8 members spreads them over both processes (4 each),
  resumes as a whole, and each member ends as in the single-process sweep;
- SIGTERM to one process saves a checkpoint on both, which both exit after;
- a divergence stops both processes at the same step with the same report.

WGAN-GP: the penalty pairs each real image with its fake and interpolation
weight, so rows fed to the wrong device would change the result.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import float32
import jax
import numpy as np
from PIL import Image

from jaxgan import checkpoint as checkpoint_lib
from jaxgan import data as data_lib
from jaxgan import sweep
from jaxgan.train import lock, trainer

from conftest import REPO, adam_step_bound, assert_close_but_adam_flips

OVERRIDES = {
    "model.image_size": 28, "model.latent_dim": 16, "model.g_width": 8,
    "model.d_width": 8, "model.d_norm": "none", "loss.name": "wasserstein",
    "loss.gp_weight": 10.0, "train.batch_size": 16, "train.num_steps": 4,
    "train.log_every": 2, "train.sample_every": 2, "train.checkpoint_every": 2,
    "train.num_samples": 16,
}
TIMEOUT = 300  # seconds a pair of processes may take (the machine is shared)


def _config(**overrides):
  sys.path.insert(0, str(REPO))
  from configs import dcgan
  config = dcgan.get_config()
  for key, value in {**OVERRIDES, **overrides}.items():
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


class Pair:
  """Two `launch.py` processes of one multi-process run; their stderr and the
  files each opened for writing (tests/scripts/audited_launch.py) are kept in
  `out` under `name`."""

  def __init__(self, out, name, workdir, *args, **overrides):
    self.out, self.name = out, name
    port = _free_port()
    flags = [f"--config.{k}={v}" for k, v in {**OVERRIDES, **overrides}.items()]
    # 4 devices per process; the rest of the test flags (conftest) kept.
    xla = os.environ["XLA_FLAGS"].replace("device_count=8", "device_count=4")
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=xla)
    self.processes = []
    for i in range(2):
      with open(self.path("err", i), "w") as stderr:
        self.processes.append(subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "scripts" / "audited_launch.py"),
             str(workdir), str(self.path("audit", i)),
             f"--config={REPO / 'configs' / 'dcgan.py'}", f"--workdir={workdir}",
             *flags, *args, f"--coordinator_address=localhost:{port}",
             "--num_processes=2", f"--process_id={i}"],
            env=env, stdout=subprocess.DEVNULL, stderr=stderr, cwd=str(REPO)))

  def path(self, kind, i):
    return self.out / f"{self.name}.{kind}.{i}"

  def wait(self, timeout=TIMEOUT):
    """Each process's exit status (both killed after `timeout`)."""
    deadline = time.monotonic() + timeout
    for p in self.processes:
      try:
        p.wait(timeout=max(deadline - time.monotonic(), 1))
      except subprocess.TimeoutExpired:
        self.kill()
    return [p.returncode for p in self.processes]

  def kill(self, i=None):
    for p in self.processes if i is None else [self.processes[i]]:
      if p.poll() is None:
        p.send_signal(signal.SIGKILL)
        p.wait()

  def stderr(self, i):
    return self.path("err", i).read_text()

  def opened(self, i):
    """The files process i opened for writing under the workdir (JSON list)."""
    return json.loads(self.path("audit", i).read_text())

  def check_exit(self, want=(0, 0)):
    codes = self.wait()
    for i, (code, expected) in enumerate(zip(codes, want, strict=True)):
      assert code == expected, (f"process {i} exited {code}, want {expected}:\n"
                                + self.stderr(i)[-3000:])


def _poll(condition, pair, timeout=TIMEOUT):
  deadline = time.monotonic() + timeout
  while not condition():
    if time.monotonic() > deadline or any(p.poll() is not None for p in pair.processes):
      pair.kill()
      raise AssertionError("condition not reached; stderr:\n"
                           + pair.stderr(0)[-2000:] + pair.stderr(1)[-2000:])
    time.sleep(0.02)


def _restored(directory, template, step):
  checkpointer = checkpoint_lib.Checkpointer(str(directory))
  try:
    return jax.tree.leaves(checkpointer.restore(template, step=step)[1])
  finally:
    checkpointer.close()


def _assert_close(got_leaves, want_leaves, what, atol):
  assert len(got_leaves) == len(want_leaves), what
  for i, (got, want) in enumerate(zip(got_leaves, want_leaves, strict=True)):
    diff = np.abs(np.asarray(got, np.float64) - np.asarray(want, np.float64))
    assert np.max(diff, initial=0.0) <= atol, (what, i, np.max(diff))


def _steps(path):
  with open(path) as f:
    return [json.loads(line)["step"] for line in f]


def _digits_store(tmp_path):
  """The digits at 28x28 as PNGs, converted to ArrayRecord (lossless), so the
  run streams them: each process reads and decodes only its rows."""
  folder = tmp_path / "digits"
  folder.mkdir()
  images = data_lib.load(_config().data, image_size=28, channels=1).images[:300]
  for i, image in enumerate(images):
    Image.fromarray(image[..., 0]).save(folder / f"{i:04d}.png")
  data_lib.prepare(str(folder), str(tmp_path / "digits_ar"), image_size=28,
                   channels=1, encoding="png")
  return str(tmp_path / "digits_ar")


def test_killed_streaming_run_restarts_and_ends_as_the_single_process_run(tmp_path):
  num_steps = 40
  run = tmp_path / "run"
  # SGD: over 40 steps Adam turns a rounding-level difference in one gradient
  # entry (the cross-process all-reduce sums in another order than this
  # process does) into a whole learning-rate step: this run's D moments were
  # 5e-3 apart after 16 steps with Adam, 3e-7 after 40 with SGD.
  long = dict(OVERRIDES, **{"train.num_steps": num_steps, "train.log_every": 4,
                            "train.sample_every": 8, "data.source": "arrayrecord",
                            "data.path": _digits_store(tmp_path),
                            "optimizer.g.name": "sgd", "optimizer.d.name": "sgd",
                            "optimizer.g.learning_rate": 0.01,
                            "optimizer.d.learning_rate": 0.01})
  first = Pair(tmp_path, "first", run, **long)
  # Once a checkpoint is complete (orbax renames it into place), kill one
  # process mid-run, then the other, which would wait for it forever.
  _poll(lambda: (run / "checkpoints" / "4").is_dir(), first)
  first.kill(1)
  time.sleep(0.5)
  first.kill(0)
  assert first.processes[1].returncode == -signal.SIGKILL
  second = Pair(tmp_path, "second", run, **long)
  # The reference saves and samples only at the end: they change nothing else.
  want = trainer.train_and_evaluate(
      _config(**{**long, "train.checkpoint_every": num_steps,
                 "train.sample_every": num_steps}), str(tmp_path / "one"))
  second.check_exit()

  for i in range(2):  # both resumed, from a step before the end
    resumed = [int(line.rsplit("step ", 1)[1].split(" ")[0])
               for line in second.stderr(i).splitlines() if "Resumed from step" in line]
    assert len(resumed) == 1 and 4 <= resumed[0] < num_steps, second.stderr(i)[-2000:]
  # Both runs run the same per-device program (8 devices, 2 examples each) and
  # differ only in the order of the 8-term cross-device sums (gradients and
  # BatchNorm statistics; across processes here): each within gamma(8) of the
  # devices' absolute parts, <= 8 x 1 per element (gradient elements of 2
  # examples stay below 1: the gradients' norms are ~1). SGD carries an
  # update's error into a weight with gain 1 (float32.network_bound's form;
  # Adam turns a near-zero element's into a whole step, hence SGD): over 40
  # steps of lr 0.01, 40 x 0.01 x sum_bound(8, 8) = 3.4e-6 (1e-4 of each
  # leaf's largest value before: below that for small bias leaves). A resume
  # from another step or batch moves weights by lr |g| ~ 1e-3.
  atol = num_steps * 0.01 * float32.sum_bound(8, 8.0)
  _assert_close(_restored(run / "checkpoints", want, num_steps), jax.tree.leaves(want),
                "final parameters", atol)
  # Only process 0 writes samples and metrics; the others only take part in
  # saving checkpoints.
  assert not [f for f in second.opened(1) if not f.startswith("checkpoints")]
  assert {"metrics.jsonl", "config.json.tmp"} <= set(second.opened(0))
  assert sorted(os.listdir(run / "samples")) == [
      f"step_{s:07d}.png" for s in range(8, num_steps + 1, 8)]
  assert _steps(run / "metrics.jsonl") == list(range(4, num_steps + 1, 4))


def test_vectorised_sweep_spreads_members_over_processes_and_resumes(tmp_path):
  seeds = list(range(8))
  spec = "--sweep=seed=" + ",".join(map(str, seeds))
  run = tmp_path / "sweep"
  first = Pair(tmp_path, "first", run, spec, "--sweep_mode=vectorised",
               **{"train.num_steps": 2})
  first.check_exit()
  second = Pair(tmp_path, "second", run, spec, "--sweep_mode=vectorised")
  want = sweep.train_sweep(_config(), {"seed": seeds}, str(tmp_path / "one"),
                           mode="vectorised")
  second.check_exit()

  for i in range(2):
    err = second.stderr(i)
    assert "Resumed the sweep from step 2" in err, err[-2000:]
    assert "Vectorised sweep: 4 members (of 8, on process" in err, err[-2000:]
  # A member's float32 sums may run in another order in the two programs
  # (1e-10 apart on one machine), and Adam (4 steps of lr 2e-4) turns that
  # into up to adam_step_bound = 1.8e-3 where a gradient element is within
  # its rounding of 0: as in test_step, elements within 1e-5 but for 1 in
  # 1,000 (1e-4 of each leaf's largest value before: one such flip would have
  # failed it). Another member's seed or a wrong resume moves most by 1e-3.
  bound = adam_step_bound(2e-4, 0.5, 0.999, 4)
  for name, state in want.items():
    assert_close_but_adam_flips(_restored(run / name / "checkpoints", state, 4),
                                jax.tree.leaves(state), 1e-5, flips=1e-3,
                                flip_bound=bound, what=name)
    # Each member's metrics are written once, by the process that trains it.
    assert _steps(run / name / "metrics.jsonl") == [2, 4], name
  names = list(want)
  for i, mine in enumerate((names[:4], names[4:])):
    others = names[4:] if i == 0 else names[:4]
    for pair in (first, second):
      opened = pair.opened(i)
      assert all(f"{n}/metrics.jsonl" in opened for n in mine), (i, opened)
      # Process 0 also writes every member's checkpoints (with the others)
      # and holds every member's lock.
      assert not [f for f in opened if f.split("/")[0] in others
                  and "/checkpoints" not in f and not f.endswith("/.lock")], (i, opened)
  # Process 0 gathers every member's results and writes the summary.
  assert "summary.csv.tmp" in second.opened(0)
  assert not [f for f in second.opened(1) if f.startswith(("summary", "sweep.json"))]
  with open(run / "summary.csv") as f:
    lines = f.read().splitlines()
  assert [line.split(",")[0] for line in lines[1:]] == names


def test_sigterm_to_one_process_saves_on_both_and_both_exit(tmp_path):
  run = tmp_path / "run"
  pair = Pair(tmp_path, "run", run, **{"train.num_steps": 100_000,
                                       "train.checkpoint_every": 50_000})
  _poll(lambda: (run / "metrics.jsonl").exists()
        and (run / "metrics.jsonl").stat().st_size > 0, pair)
  pair.processes[1].send_signal(signal.SIGTERM)
  pair.check_exit(want=(128 + signal.SIGTERM, 128 + signal.SIGTERM))
  saved = os.listdir(run / "checkpoints")
  assert len(saved) == 1 and 0 < int(saved[0]) < 50_000, saved
  for i in range(2):
    assert f"Stopped by SIGTERM at step {saved[0]}," in pair.stderr(i), i


def test_divergence_stops_both_processes_at_one_step_with_one_report(tmp_path):
  run = tmp_path / "run"
  pair = Pair(tmp_path, "run", run, **{"optimizer.d.learning_rate": 1e30,
                                       "optimizer.g.learning_rate": 1e30,
                                       "train.num_steps": 20, "train.log_every": 10,
                                       "train.checkpoint_every": 10,
                                       "train.sample_every": 10})
  pair.check_exit(want=(1, 1))
  reports = [[line for line in pair.stderr(i).splitlines()
              if line.startswith("DivergenceError: Training diverged at step")]
             for i in range(2)]
  assert len(reports[0]) == 1 and reports[0] == reports[1], reports
  assert json.loads((run / "divergence.json").read_text())["step"] == int(
      reports[0][0].split("step ")[1].split(":")[0])


def test_a_locked_workdir_is_refused_in_every_process_before_compiling(tmp_path):
  run = tmp_path / "run"
  with lock.hold(str(run)):
    start = time.monotonic()
    pair = Pair(tmp_path, "run", run)
    pair.check_exit(want=(1, 1))
    took = time.monotonic() - start
  for i in range(2):
    assert "WorkdirLocked:" in pair.stderr(i), pair.stderr(i)[-2000:]
  assert str(os.getpid()) in pair.stderr(0)  # process 0 names the holder
  assert "Process 0 could not lock" in pair.stderr(1)
  assert "Dataset digits" not in pair.stderr(0) + pair.stderr(1)  # refused first
  # Two process starts, no training, and a prompt exit: both processes once
  # hung ~150 s in teardown after a collective (jaxgan.distributed._allgather).
  assert took < 60, took
