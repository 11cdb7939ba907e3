r"""Time from `python launch.py` to the end of its first training call. Prints JSON.

  python benchmarks/startup.py [--config=configs/dcgan.py --repeats=3]

Runs the default run (`launch.py --config=configs/dcgan.py`, a new workdir
each time, one call of train.steps_per_call steps, then stops) as a user
would, in three ways, --repeats times each:
- no_cache: the persistent compilation cache off (--compilation_cache='').
- cold_cache: a new, empty cache directory (the first run on a machine).
- warm_cache: the same directory again (any later run of the same config).
For each: the median of the seconds from the process's start to the end of
its first call (the trainer logs it: `First call done`), the wall time of the
whole process, and what was compiled before the first call that took longer
than 0.05 s (JAX_LOG_COMPILES), with the median seconds of each.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

flags.DEFINE_string("config", "configs/dcgan.py", "The config launch.py trains.")
flags.DEFINE_integer("repeats", 3, "Runs of each kind.")

_REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
_FIRST = re.compile(r"First call done: steps \d+-(\d+), ([\d.]+) s after")
_COMPILED = re.compile(r"Finished XLA compilation of (\S+) in ([\d.e-]+) sec")


def run_once(config: str, cache: str) -> dict:
  with tempfile.TemporaryDirectory() as workdir:
    env = dict(os.environ, JAX_LOG_COMPILES="1")
    env.pop("JAXGAN_COMPILATION_CACHE", None)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    start = time.perf_counter()
    # One call: num_steps = the config's steps_per_call (10 in configs/dcgan.py).
    out = subprocess.run(
        [sys.executable, "launch.py", f"--config={config}", f"--workdir={workdir}",
         f"--compilation_cache={cache}", "--config.train.num_steps=10"],
        cwd=_REPO, env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
  log = out.stdout + out.stderr
  first = _FIRST.search(log)
  before = log[:first.start()]
  compiled: dict[str, float] = {}
  for name, seconds in _COMPILED.findall(before):
    compiled[name] = compiled.get(name, 0.0) + float(seconds)
  return {"first_call_s": float(first.group(2)), "steps_in_first_call": int(first.group(1)),
          "process_wall_s": wall,
          "compiled": {k: v for k, v in compiled.items() if v > 0.05}}


def summarise(runs: list[dict]) -> dict:
  names = sorted({k for r in runs for k in r["compiled"]})
  return {"first_call_s": round(float(np.median([r["first_call_s"] for r in runs])), 2),
          "first_call_s_each": [round(r["first_call_s"], 2) for r in runs],
          "steps_in_first_call": runs[0]["steps_in_first_call"],
          "process_wall_s": round(float(np.median([r["process_wall_s"] for r in runs])), 2),
          "compiled_before_first_call_s": {
              n: round(float(np.median([r["compiled"].get(n, 0.0) for r in runs])), 2)
              for n in names}}


def main(_):
  f = flags.FLAGS
  report = {"config": f.config, "repeats": f.repeats, "cpu_count": os.cpu_count()}
  report["no_cache"] = summarise([run_once(f.config, "") for _ in range(f.repeats)])
  cold, warm = [], []
  for _ in range(f.repeats):
    with tempfile.TemporaryDirectory() as cache:
      cold.append(run_once(f.config, cache))
      warm.append(run_once(f.config, cache))
  report["cold_cache"] = summarise(cold)
  report["warm_cache"] = summarise(warm)
  print(json.dumps(report, indent=1))


if __name__ == "__main__":
  app.run(main)
