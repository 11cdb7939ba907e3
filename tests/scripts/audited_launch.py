"""`python launch.py ARGS...`, recording the files it opens for writing.

  python tests/scripts/audited_launch.py AUDIT_ROOT AUDIT_OUT launch.py-args...

Runs launch.py as the main module with these arguments; at exit writes to
AUDIT_OUT (JSON) the paths under AUDIT_ROOT, relative to it, that the process
opened for writing (tests/test_multihost.py: only process 0 writes samples
and metrics).
"""

import atexit
import json
import os
import runpy
import sys

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def main():
  root, out = os.path.abspath(sys.argv[1]), sys.argv[2]
  opened = set()

  def audit(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
      path, mode, flags = os.fsdecode(args[0]), args[1], args[2]
      writes = (any(c in mode for c in "wax+") if isinstance(mode, str)
                else bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)))
      if writes and os.path.abspath(path).startswith(root + os.sep):
        opened.add(os.path.relpath(os.path.abspath(path), root))

  def dump():
    with open(out, "w") as f:
      json.dump(sorted(opened), f)

  sys.addaudithook(audit)
  atexit.register(dump)
  sys.argv = [os.path.join(REPO, "launch.py"), *sys.argv[3:]]
  sys.path.insert(0, REPO)
  runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
  main()
