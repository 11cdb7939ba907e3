"""One writer per workdir (`jaxgan.train.lock`): the lock's rules, and two real
launches on one workdir, of which the second is refused before compiling."""

import json
import logging as std_logging
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from absl import logging

from jaxgan.train import lock as lock_lib

from conftest import REPO, tiny_config


@pytest.fixture
def warnings(caplog):
  """absl's warnings, as caplog records them."""
  logging.get_absl_logger().propagate = True
  caplog.set_level(std_logging.WARNING)
  return caplog


def _write_lock(workdir, **fields):
  """A lock file as another process would leave it."""
  os.makedirs(workdir, exist_ok=True)
  info = {"pid": os.getpid(), "host": socket.gethostname(),
          "boot_id": lock_lib._boot_id(), "process_start": None,
          "started": "2024-01-02T03:04:05+00:00", "started_epoch": 0.0,
          "argv": ["launch.py", "--workdir=x"], "token": "theirs", **fields}
  with open(lock_lib.lock_path(workdir), "w") as f:
    json.dump(info, f)
  return info


def _dead_pid() -> int:
  """The pid of a process that has exited (and been reaped)."""
  child = subprocess.Popen([sys.executable, "-c", "pass"])
  child.wait()
  return child.pid


def test_hold_takes_the_lock_naming_this_process_and_releases_it(tmp_path):
  workdir = str(tmp_path / "run")
  with lock_lib.hold(workdir) as held:
    with open(lock_lib.lock_path(workdir)) as f:
      info = json.load(f)
    assert info["pid"] == os.getpid() and info["host"] == socket.gethostname()
    assert info["process_start"] == lock_lib._process_start(os.getpid())
    assert abs(info["started_epoch"] - time.time()) < 60 and info["started"]
    assert held.path == os.path.abspath(lock_lib.lock_path(workdir))
  assert not os.path.exists(lock_lib.lock_path(workdir))
  # It created the workdir; with nothing written there, it leaves none behind.
  assert not os.path.exists(workdir)


def test_release_on_an_exception_keeps_what_was_written(tmp_path):
  workdir = str(tmp_path / "run")
  with pytest.raises(ZeroDivisionError), lock_lib.hold(workdir):
    (tmp_path / "run" / "metrics.jsonl").write_text("{}\n")
    1 / 0  # noqa: B018
  assert os.listdir(workdir) == ["metrics.jsonl"]


def test_a_second_hold_in_this_process_is_refused(tmp_path):
  with lock_lib.hold(str(tmp_path)), pytest.raises(lock_lib.WorkdirLocked,
                                                   match="this process"):
    with lock_lib.hold(str(tmp_path)):
      pass


def test_a_live_holder_is_refused_with_its_pid_host_and_start(tmp_path):
  holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
  try:
    _write_lock(tmp_path, pid=holder.pid,
                process_start=lock_lib._process_start(holder.pid))
    with pytest.raises(lock_lib.WorkdirLocked) as e, lock_lib.hold(str(tmp_path)):
      pass
  finally:
    holder.kill()
    holder.wait()
  message = str(e.value)
  for part in (f"pid {holder.pid}", socket.gethostname(), "2024-01-02T03:04:05",
               f"kill {holder.pid}", "another --workdir"):
    assert part in message
  # The refusal leaves the holder's lock as it was.
  assert json.loads((tmp_path / ".lock").read_text())["pid"] == holder.pid


def test_a_dead_holders_lock_is_taken_over_with_a_warning(tmp_path, warnings):
  pid = _dead_pid()
  _write_lock(tmp_path, pid=pid)
  with lock_lib.hold(str(tmp_path)):
    assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
  assert f"pid {pid}" in warnings.text and "process is gone" in warnings.text


def test_a_reused_pid_is_not_the_holder(tmp_path, warnings):
  # A process runs with the holder's pid but started at another time.
  other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
  try:
    _write_lock(tmp_path, pid=other.pid,
                process_start=lock_lib._process_start(other.pid) - 1)
    with lock_lib.hold(str(tmp_path)):
      pass
  finally:
    other.kill()
    other.wait()
  assert f"pid {other.pid}" in warnings.text


def test_a_holder_in_another_pid_namespace_is_seen_by_its_fcntl_lock(tmp_path):
  # The recorded pid is dead here, but a live process holds the file's fcntl
  # lock (a holder whose pid this process cannot see).
  _write_lock(tmp_path, pid=_dead_pid())
  holder = subprocess.Popen(
      [sys.executable, "-c", "import fcntl, os, sys, time\n"
       f"fd = os.open({str(tmp_path / '.lock')!r}, os.O_RDWR)\n"
       "fcntl.lockf(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)"],
      stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(lock_lib.WorkdirLocked), lock_lib.hold(str(tmp_path)):
      pass
  finally:
    holder.kill()
    holder.wait()


def test_another_machines_lock_is_refused_until_stale(tmp_path, warnings):
  _write_lock(tmp_path, host="gpu-node-7", pid=_dead_pid())
  with pytest.raises(lock_lib.WorkdirLocked) as e, lock_lib.hold(str(tmp_path)):
    pass
  assert "another machine" in str(e.value) and "gpu-node-7" in str(e.value)
  assert f"delete {tmp_path / '.lock'}" in str(e.value)
  # Not refreshed for longer than stale_s: its holder is gone.
  old = time.time() - 120
  os.utime(tmp_path / ".lock", (old, old))
  with lock_lib.hold(str(tmp_path), stale_s=60):
    pass
  assert "gpu-node-7" in warnings.text and "not refreshed" in warnings.text


def test_the_holder_refreshes_its_lock(tmp_path):
  with lock_lib.hold(str(tmp_path), heartbeat_s=0.05):
    old = time.time() - 1000
    os.utime(tmp_path / ".lock", (old, old))
    time.sleep(0.5)
    assert time.time() - os.stat(tmp_path / ".lock").st_mtime < 10


@pytest.mark.parametrize("text", ["", "{not json"])
def test_an_unreadable_lock_is_refused_while_fresh_and_taken_over_when_stale(
    tmp_path, warnings, monkeypatch, text):
  monkeypatch.setattr(lock_lib, "_SETTLE_S", 0.2)  # how long it is reread
  (tmp_path / ".lock").write_text(text)
  with pytest.raises(lock_lib.WorkdirLocked, match="cannot be read") as e:
    with lock_lib.hold(str(tmp_path)):
      pass
  assert f"delete {tmp_path / '.lock'}" in str(e.value)
  old = time.time() - 120
  os.utime(tmp_path / ".lock", (old, old))
  with lock_lib.hold(str(tmp_path), stale_s=60):
    pass
  assert "unreadable lock" in warnings.text
  assert not (tmp_path / ".lock").exists()


def test_release_leaves_a_lock_that_is_no_longer_ours(tmp_path, warnings):
  with lock_lib.hold(str(tmp_path)):
    # Another run judged ours stale and took over: its lock must survive us.
    os.unlink(tmp_path / ".lock")
    _write_lock(tmp_path, token="successor")
  assert json.loads((tmp_path / ".lock").read_text())["token"] == "successor"
  assert "no longer this run's" in warnings.text


def test_disabled_hold_does_nothing(tmp_path):
  with lock_lib.hold(str(tmp_path / "run"), enabled=False) as held:
    assert held is None
  assert not (tmp_path / "run").exists()


# -- End to end ----------------------------------------------------------------

def _launch_command(workdir, num_steps, *extra):
  """`launch.py` on the tiny DCGAN (tests/conftest.py)."""
  config = tiny_config()
  overrides = [f"--config.model.{k}={config.model[k]}"
               for k in ("image_size", "latent_dim", "g_width", "d_width")]
  overrides += [f"--config.train.{k}={config.train[k]}"
                for k in ("batch_size", "num_samples")]
  return [sys.executable, "launch.py", "--config=configs/dcgan.py",
          f"--workdir={workdir}", *overrides, f"--config.train.num_steps={num_steps}",
          *extra]


_ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def _launch(workdir, num_steps, *extra):
  """`_launch_command` in a subprocess, its output in files beside workdir (a
  pipe nobody reads would stop it once full)."""
  log = open(f"{workdir}.log", "w")  # noqa: SIM115 (the child writes it)
  return subprocess.Popen(_launch_command(workdir, num_steps, *extra), cwd=REPO,
                          stdout=log, stderr=subprocess.STDOUT, env=_ENV)


def _wait_for(predicate, process, timeout=120):
  deadline = time.time() + timeout
  while not predicate():
    if process.poll() is not None:
      raise AssertionError(f"exited with {process.returncode}: "
                           f"{open(process.args[4].split('=', 1)[1] + '.log').read()}")
    assert time.time() < deadline, "timed out"
    time.sleep(0.1)


def test_a_second_launch_on_a_busy_workdir_is_refused_at_once(tmp_path):
  workdir = tmp_path / "run"
  # Long enough to still be training when the second one has been refused.
  first = _launch(workdir, 300, "--config.train.log_every=50",
                  "--config.train.checkpoint_every=100",
                  "--config.train.sample_every=100000")
  try:
    _wait_for(lambda: (workdir / ".lock").exists(), first)
    started = time.time()
    second = subprocess.run(_launch_command(workdir, 300), cwd=REPO,
                            capture_output=True, text=True, env=_ENV)
    took = time.time() - started
    assert first.poll() is None, "the first run ended before the second was refused"
    first.wait(timeout=600)
  finally:
    first.kill()
  log = open(f"{workdir}.log").read()
  assert second.returncode != 0
  assert f"WorkdirLocked: {workdir} is in use by another run: pid {first.pid}" in (
      second.stderr)
  # Refused before loading data or compiling (a start of Python, JAX and
  # absl; a compile of the step alone takes longer here).
  assert took < 15, took
  assert "Dataset digits" not in second.stderr  # not even the data was loaded
  assert "Dataset digits" in log  # (which the first run logs)
  assert first.returncode == 0, log
  lines = (workdir / "metrics.jsonl").read_text().splitlines()
  assert [json.loads(line)["step"] for line in lines] == list(range(50, 301, 50))
  assert not (workdir / ".lock").exists()


def test_a_sigkilled_holders_lock_is_taken_over_and_the_run_resumes(tmp_path,
                                                                   warnings):
  from jaxgan import checkpoint as checkpoint_lib
  from jaxgan.train import trainer

  workdir = tmp_path / "run"
  run = _launch(workdir, 100_000, "--config.train.checkpoint_every=10",
                "--config.train.log_every=10", "--config.train.sample_every=100000")
  checkpoints = workdir / "checkpoints"
  try:
    _wait_for(lambda: checkpoints.is_dir() and any(
        p.name.isdigit() for p in checkpoints.iterdir()), run)
  finally:
    run.send_signal(signal.SIGKILL)
    run.wait()
  assert json.loads((workdir / ".lock").read_text())["pid"] == run.pid
  saved = checkpoint_lib.Checkpointer(str(checkpoints)).latest_step()
  config = tiny_config()
  config.train.num_steps = saved + 2
  config.train.checkpoint_every = 10
  config.train.log_every = 2
  config.train.sample_every = 100_000
  trainer.train_and_evaluate(config, str(workdir))
  assert f"pid {run.pid}" in warnings.text and "process is gone" in warnings.text
  # Resumed: the killed run's records up to its checkpoint, then the new one's.
  steps = [json.loads(line)["step"]
           for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  assert steps == [*range(10, saved + 1, 10), saved + 2]
  assert checkpoint_lib.Checkpointer(str(checkpoints)).latest_step() == saved + 2
  assert not (workdir / ".lock").exists()


def test_a_sweep_is_refused_on_a_busy_sweep_or_member_workdir(tmp_path):
  from jaxgan import sweep

  workdir = str(tmp_path / "sweep")
  spec = {"seed": [0, 1]}
  with lock_lib.hold(workdir), pytest.raises(lock_lib.WorkdirLocked):
    sweep.train_sweep(tiny_config(), spec, workdir)  # a second sweep
  # Vectorised, the sweep locks its members' workdirs, before compiling.
  with lock_lib.hold(os.path.join(workdir, "seed=1")), pytest.raises(
      lock_lib.WorkdirLocked, match="seed=1"):
    sweep.train_sweep(tiny_config(), spec, workdir, mode="vectorised")
  assert not os.path.exists(os.path.join(workdir, "sweep.json"))
  assert not os.path.exists(os.path.join(workdir, ".lock"))
