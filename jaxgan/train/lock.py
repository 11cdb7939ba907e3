"""One writer per workdir: a lock file, `workdir/.lock`, held while a run writes.

Two runs started on the same workdir would interleave lines in metrics.jsonl
and overwrite each other's checkpoints; `hold(workdir)` makes the second one
fail at once with `WorkdirLocked`, naming the holder.

How the lock is taken, and why:

- The lock file is created with `os.open(..., O_CREAT | O_EXCL)`, which is
  atomic on local disks and on NFS (v3 and later), so of two runs that start
  together exactly one creates it. `flock` is not used to take the lock: on
  some network filesystems (older NFS, GCS-fuse) it is local to one machine,
  or not supported, and a researcher's workdir is often on one of them.
- The file holds JSON naming the holder: pid, host, the kernel's boot id, the
  process's start time (from /proc, which tells a reused pid from the
  holder), start time (ISO and epoch), command line and a random token.
- A lock file already there is judged:
  * held by a process on this machine (same host name and boot id): its
    holder is alive if the pid runs and started when the lock says (a pid
    reused by another process is not the holder), or if it still holds an
    fcntl lock on the file (the holder takes one, and the kernel drops it when
    the holder dies; this sees a holder in another pid namespace too). A live
    holder: refused. A dead one: taken over, with a warning naming it.
  * from another machine: its liveness cannot be checked from here. The holder
    refreshes the file's modification time every `HEARTBEAT_S` seconds from a
    daemon thread, so a lock not refreshed for `STALE_S` seconds is stale (the
    holder died, or its machine is gone) and is taken over with a warning;
    otherwise refused, with how to remove it. (A holder on this machine is
    judged by its pid alone: a stopped process, ^Z, keeps its lock.)
  * unreadable (empty or not JSON: a holder killed between creating the file
    and writing it, or a damaged file): it names no holder, so it is treated
    like another machine's lock, by its age: refused while fresh (saying to
    delete it if no run uses the workdir), taken over once stale.
- Release removes the file only if it is still ours (same file and token), so
  a run whose lock was taken over never deletes its successor's lock.

In a multi-process run process 0 holds the lock (`enabled=False` elsewhere).
"""

import contextlib
import datetime
import errno
import fcntl
import json
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Iterator

import jax
from absl import logging

from jaxgan import distributed

LOCK_NAME = ".lock"
# The holder refreshes the lock's modification time this often...
HEARTBEAT_S = 60.0
# ...and a lock from another machine not refreshed for this long is stale. It
# is much longer than the heartbeat, to allow for NFS attribute caching (up to
# a minute) and clocks that differ between machines.
STALE_S = 600.0
# How long an empty or unreadable lock file is read again, in case its creator
# is writing it at that moment.
_SETTLE_S = 1.0

# The lock files this process holds (their paths), so a second `hold` of the
# same workdir in this process is refused without opening the file (closing
# any descriptor of a file drops this process's fcntl lock on it).
_HELD: set[str] = set()


class WorkdirLocked(RuntimeError):
  """Another run holds the workdir's lock (or may: a lock that cannot be
  judged is refused too)."""


def lock_path(workdir: str) -> str:
  """The lock file of `workdir`."""
  return os.path.join(workdir, LOCK_NAME)


def _boot_id() -> str | None:
  try:
    with open("/proc/sys/kernel/random/boot_id") as f:
      return f.read().strip()
  except OSError:
    return None  # not Linux: the host name alone says which machine


def _process_start(pid: int) -> int | None:
  """The process's start time (clock ticks after boot, /proc/<pid>/stat), or
  None where /proc cannot tell (no such process, not Linux)."""
  stat = _proc_stat(pid)
  return None if stat is None else int(stat[19])


def _proc_stat(pid: int) -> list[str] | None:
  """The fields of /proc/<pid>/stat after the command name (which may hold
  spaces and parentheses): state first."""
  try:
    with open(f"/proc/{pid}/stat") as f:
      text = f.read()
  except OSError:
    return None
  return text[text.rindex(")") + 2:].split()


def _pid_alive(pid: int, start: int | None) -> bool:
  """Whether `pid` runs on this machine and, where /proc tells, is the process
  that started at `start` (not another one given the same pid later)."""
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    pass  # another user's process: it exists
  stat = _proc_stat(pid)
  if stat is None:  # gone since kill(), or no /proc (not Linux): trust kill()
    return not os.path.isdir("/proc/self")
  if stat[0] in ("Z", "X"):
    return False  # a zombie has exited: it writes nothing more
  return start is None or int(stat[19]) == start


def _fcntl_held(path: str) -> bool | None:
  """Whether some process holds an fcntl lock on `path` (None: cannot tell,
  e.g. a filesystem without fcntl locks, or the file is gone)."""
  try:
    fd = os.open(path, os.O_RDWR)
  except OSError:
    return None
  try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except OSError as e:
    return True if e.errno in (errno.EACCES, errno.EAGAIN) else None
  else:
    fcntl.lockf(fd, fcntl.LOCK_UN)
    return False
  finally:
    os.close(fd)


def _describe(info: dict) -> str:
  return (f"pid {info.get('pid')} on host {info.get('host')!r}, started "
          f"{info.get('started')} ({' '.join(info.get('argv', [])) or '?'})")


class WorkdirLock:
  """A held lock on a workdir (see the module docstring); `release()` frees it."""

  def __init__(self, workdir: str, *, heartbeat_s: float = HEARTBEAT_S,
               stale_s: float = STALE_S):
    self.workdir, self.path = workdir, os.path.abspath(lock_path(workdir))
    self._stale_s = stale_s
    self._fd: int | None = None
    self._created_dir = not os.path.isdir(workdir)
    os.makedirs(workdir, exist_ok=True)
    try:
      self._acquire()
    except BaseException:
      self._remove_created_dir()
      raise
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._heartbeat, args=(heartbeat_s,),
                                    name=f"workdir-lock {workdir}", daemon=True)
    self._thread.start()

  # -- taking it --

  def _acquire(self) -> None:
    if self.path in _HELD:
      raise WorkdirLocked(
          f"{self.workdir} is locked by this process already ({self.path}): a run "
          "in it has not finished. Use another --workdir for a second run.")
    for _ in range(3):  # a stale lock removed, then created again: try again
      if self._create():
        _HELD.add(self.path)
        return
      self._judge()  # raises WorkdirLocked, or removes a stale lock
    raise WorkdirLocked(f"Could not take the lock {self.path}: other runs keep "
                        "taking it. Use another --workdir.")

  def _create(self) -> bool:
    """Creates the lock file naming this process; False if one exists."""
    try:
      fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
    except FileExistsError:
      return False
    now = time.time()
    self.info = {
        "pid": os.getpid(), "host": socket.gethostname(), "boot_id": _boot_id(),
        "process_start": _process_start(os.getpid()),
        "started": datetime.datetime.fromtimestamp(now).astimezone().isoformat(
            timespec="seconds"),
        "started_epoch": now, "argv": sys.argv, "token": secrets.token_hex(8)}
    try:
      os.write(fd, json.dumps(self.info, indent=1).encode() + b"\n")
      os.fsync(fd)
    except OSError as e:
      os.close(fd)
      os.unlink(self.path)
      raise OSError(e.errno, f"Cannot write the workdir lock {self.path}: "
                    f"{e.strerror}") from e
    with contextlib.suppress(OSError):
      # Liveness proof for a checker on this machine; the kernel drops it when
      # this process dies. Not all filesystems support it: then the pid alone.
      fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    self._fd = fd
    return True

  def _read(self) -> tuple[dict | None, os.stat_result | None, str]:
    """(holder's record or None, the file's stat or None if it is gone, why
    the record is None). Rereads an empty or unreadable file for a moment, in
    case its creator is writing it."""
    deadline = time.monotonic() + _SETTLE_S
    while True:
      try:
        with open(self.path, "rb") as f:
          stat, text = os.fstat(f.fileno()), f.read()
      except FileNotFoundError:
        return None, None, "gone"
      try:
        info = json.loads(text)
        if isinstance(info, dict) and "pid" in info and "host" in info:
          return info, stat, ""
        why = "it names no holder"
      except ValueError:
        why = "it is empty" if not text.strip() else "it is not JSON"
      if time.monotonic() > deadline:
        return None, stat, why
      time.sleep(0.1)

  def _judge(self) -> None:
    """Raises WorkdirLocked if the existing lock's holder is (or may be) alive;
    otherwise removes that lock, with a warning naming its holder."""
    info, stat, why = self._read()
    if stat is None:
      return  # released meanwhile
    age = time.time() - stat.st_mtime
    same_machine = info is not None and info.get("host") == socket.gethostname() and (
        info.get("boot_id") == _boot_id())
    remove = (f"If no run uses {self.workdir} (its machine is gone), delete "
              f"{self.path} and start again.")
    if same_machine:
      if (_pid_alive(int(info["pid"]), info.get("process_start"))
          or _fcntl_held(self.path)):
        raise WorkdirLocked(
            f"{self.workdir} is in use by another run: {_describe(info)}. Wait for "
            f"it to finish, stop it (kill {info['pid']}), or use another --workdir.")
      reason = "its process is gone"
    elif age < self._stale_s:
      if info is None:
        raise WorkdirLocked(
            f"{self.workdir} has a lock file that cannot be read ({why}; modified "
            f"{age:.0f} s ago), so whether a run holds it cannot be told. {remove} "
            f"(A lock not refreshed for {self._stale_s:.0f} s is taken over.)")
      raise WorkdirLocked(
          f"{self.workdir} is in use by a run on another machine: {_describe(info)}; "
          f"its lock was refreshed {age:.0f} s ago. Whether it is alive cannot be "
          f"checked from host {socket.gethostname()!r}: wait for it to finish, stop "
          f"it there, or use another --workdir. {remove} (A lock not refreshed for "
          f"{self._stale_s:.0f} s is taken over.)")
    else:
      reason = f"it was not refreshed for {age:.0f} s"
    holder = _describe(info) if info is not None else f"an unreadable lock ({why})"
    # Remove the very file judged, not one a third run created since.
    with contextlib.suppress(FileNotFoundError):
      now = os.stat(self.path)
      if (now.st_ino, now.st_dev) == (stat.st_ino, stat.st_dev):
        os.unlink(self.path)
    logging.warning("Took over the lock of %s from %s: %s.", self.workdir, holder,
                    reason)

  # -- holding it --

  def _owned(self) -> bool:
    """Whether the file at `path` is still the one this process created."""
    try:
      now, ours = os.stat(self.path), os.fstat(self._fd)
    except OSError:
      return False
    return (now.st_ino, now.st_dev) == (ours.st_ino, ours.st_dev)

  def _heartbeat(self, every: float) -> None:
    while not self._stop.wait(every):
      if not self._owned():
        logging.error("The lock %s is no longer this run's (removed, or taken "
                      "over by another run); two runs may now write to %s.",
                      self.path, self.workdir)
        return
      with contextlib.suppress(OSError):  # a full or read-only disk: try again
        os.utime(self.path)

  def release(self) -> None:
    """Removes the lock file if it is still ours; idempotent."""
    if self._fd is None:
      return
    self._stop.set()
    self._thread.join()
    if self._owned():
      with contextlib.suppress(FileNotFoundError):
        os.unlink(self.path)
    else:
      logging.warning("Not removing %s: it is no longer this run's lock.", self.path)
    os.close(self._fd)
    self._fd = None
    _HELD.discard(self.path)
    self._remove_created_dir()

  def _remove_created_dir(self) -> None:
    """Removes the workdir if the lock created it and nothing was written in it
    (a run refused, or failing before it wrote anything, leaves no trace)."""
    if self._created_dir:
      with contextlib.suppress(OSError):
        os.rmdir(self.workdir)


@contextlib.contextmanager
def hold(workdir: str, *, enabled: bool = True, heartbeat_s: float = HEARTBEAT_S,
         stale_s: float = STALE_S) -> Iterator[WorkdirLock | None]:
  """Holds `workdir`'s lock while the block runs (creating `workdir`).

  Args:
    workdir: the run's directory.
    enabled: False in the processes of a multi-process run other than process
      0 (which holds it for all): then it does nothing and yields None.
    heartbeat_s: how often the lock's modification time is refreshed.
    stale_s: how long another machine's lock may go unrefreshed before it is
      taken over.

  Raises:
    WorkdirLocked: another run holds the lock (see the module docstring).
  """
  if not enabled:
    yield None
    return
  lock = WorkdirLock(workdir, heartbeat_s=heartbeat_s, stale_s=stale_s)
  try:
    yield lock
  finally:
    lock.release()


@contextlib.contextmanager
def hold_all(workdirs: list[str]) -> Iterator[None]:
  """Holds the locks of `workdirs` for every process of the run: process 0
  takes them, and all processes raise WorkdirLocked together if it cannot
  (the others would otherwise go on and wait for it at their first
  collective). In a single process, `hold` of each."""
  with contextlib.ExitStack() as stack:
    refused = None
    try:
      for workdir in workdirs:
        stack.enter_context(hold(workdir, enabled=jax.process_index() == 0))
    except WorkdirLocked as e:
      refused = e
    if distributed.any_process(refused is not None):
      raise refused or WorkdirLocked(
          f"Process 0 could not lock {', '.join(workdirs)}: another run is writing "
          "there (process 0's log names it).")
    yield
