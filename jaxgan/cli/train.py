r"""`jaxgan train` (and `python launch.py`): trains a GAN from a config.

  jaxgan train --config=dcgan [--workdir=runs/dcgan] \
      [--config.train.num_steps=1000]
  python launch.py --config=configs/dcgan.py   # the same, in the repository

`--config` is a config file's path, or the bare name of a config shipped
with jaxgan (`jaxgan.config_files.names()`), either with ':ARG' for a variant.
Running the same command again resumes from the latest checkpoint in workdir.
SIGTERM or SIGINT (Ctrl-C) saves a checkpoint and exits with status 128 + the
signal number; a second one stops at once. A workdir holding a run with a
different config is refused unless --override_config is given, and so is a
workdir another run is writing to (workdir/.lock names it).

A sweep trains many members of the config from one command, each in
workdir/<member>/, and writes workdir/summary.csv and summary.png
(docs/sweeps.md):

  jaxgan train --config=toy_ring --sweep='seed=0,1,2,3'
  jaxgan train --config=toy_ring --sweep=config  # its get_sweep()

Several processes (hosts) train one run, or spread a sweep's members, when
each runs the same command joined by `jax.distributed` (`jaxgan.distributed`):

  jaxgan train --config=dcgan --multiprocess=auto       # Cloud TPU, SLURM, Open MPI
  jaxgan train --config=dcgan --coordinator_address=host0:1234 \
      --num_processes=2 --process_id=0                  # and =1 on the other
"""

import errno
import importlib.util
import os
import re
import sys

import jax
from absl import app, flags, logging
from ml_collections import config_flags

from jaxgan import (
    checkpoint,
    cli,
    compilation,
    config_files,
    distributed,
    evaluation,
    sweep,
    train,
)
from jaxgan import data as data_lib
from jaxgan.train import lock, trainer

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command's flags (absl's global flags: defined once per process)."""
  config_flags.DEFINE_config_file("config", None, "Training config: a config "
                                  "file's path, or the name of a config shipped "
                                  "with jaxgan (e.g. dcgan), [:ARG].",
                                  lock_config=True)
  flags.DEFINE_string("workdir", None,
                      "Where samples, metrics and checkpoints go; default "
                      "runs/<config file stem>.")
  flags.DEFINE_bool("override_config", False,
                    "Continue the run in --workdir although its config differs; "
                    "its old config.json is kept as config.N.json.")
  flags.DEFINE_string("sweep", "",
                      "Train a sweep: 'config' for the config file's get_sweep(), "
                      "or 'key=v1,v2;key2=v3,v4' (';': product, '&': zip keys).")
  flags.DEFINE_enum("sweep_mode", "auto", sweep.MODES,
                    "vectorised: members in one compiled program; process: one "
                    "after another; auto: vectorised when the members allow it.")
  flags.DEFINE_enum("multiprocess", "off", distributed.MODES,
                    "Join a multi-process run (several hosts): auto: JAX finds the "
                    "others (Cloud TPU, SLURM, Open MPI); explicit: the three flags "
                    "below; off: one process (explicit when --coordinator_address "
                    "is given).")
  flags.DEFINE_string("coordinator_address", None,
                      "host:port of process 0, the same on every process.")
  flags.DEFINE_integer("num_processes", None, "How many processes the run has.")
  flags.DEFINE_integer("process_id", None, "This process's index, 0 .. num_processes-1.")
  flags.DEFINE_string("compilation_cache", None,
                      "Directory of JAX's persistent compilation cache: a second run "
                      "of the same config loads its compiled step instead of "
                      "compiling it. Default: $JAXGAN_COMPILATION_CACHE when set, else "
                      "the xla/ directory of jaxgan's cache ($JAXGAN_CACHE_DIR, else "
                      "~/.cache/jaxgan); '' turns it off.")
  flags.mark_flags_as_required(["config"])


# Set to a directory, or to '' for none, it replaces the default directory of
# the persistent compilation cache (the tests set it to '').
COMPILATION_CACHE_ENV = "JAXGAN_COMPILATION_CACHE"


def default_compilation_cache() -> str:
  """$JAXGAN_COMPILATION_CACHE when set, else xla/ in jaxgan's cache."""
  if COMPILATION_CACHE_ENV in os.environ:
    return os.environ[COMPILATION_CACHE_ENV]
  return os.path.join(evaluation.cache_dir(), "xla")


def _sweep_spec(text: str, config_file: str):
  """The sweep of --sweep: parsed, or the config file's get_sweep() (given the
  config's ':ARG' when there is one, as get_config is)."""
  if text != "config":
    return sweep.parse(text)
  path, *arg = config_file.split(":", 1)
  spec = importlib.util.spec_from_file_location("sweep_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not hasattr(module, "get_sweep"):
    raise ValueError(f"--sweep=config: {path} has no get_sweep().")
  return module.get_sweep(*arg)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  config_file = config_flags.get_config_filename(FLAGS["config"])
  try:  # before anything touches a device
    distributed.initialize(FLAGS.multiprocess, FLAGS.coordinator_address,
                           FLAGS.num_processes, FLAGS.process_id)
  except ValueError as e:
    sys.exit(f"Bad multi-process flags: {e}")
  cache = compilation.enable_persistent_cache(
      default_compilation_cache() if FLAGS.compilation_cache is None
      else FLAGS.compilation_cache)
  workdir = FLAGS.workdir or os.path.join(
      "runs", os.path.splitext(os.path.basename(config_file))[0])
  logging.info("JAX %s: process %d of %d, %d local devices of %d: %s",
               jax.__version__, jax.process_index(), jax.process_count(),
               jax.local_device_count(), jax.device_count(), jax.devices()[0].platform)
  logging.info("Workdir: %s; compilation cache: %s", workdir, cache or "off")
  try:
    if FLAGS.sweep:
      try:  # a misspelled key or value fails in one line, before anything runs
        spec = _sweep_spec(FLAGS.sweep, config_file)
        sweep.plan(sweep.member_configs(FLAGS.config, spec)[2], FLAGS.sweep_mode)
      except ValueError as e:
        sys.exit(f"Bad sweep: {e}")
      sweep.train_sweep(FLAGS.config, spec, workdir, mode=FLAGS.sweep_mode)
    else:
      train.train_and_evaluate(FLAGS.config, workdir,
                               override_config=FLAGS.override_config)
  except trainer.TrainingInterrupted as e:
    logging.warning("%s", e)
    sys.exit(128 + e.signum)
  except (trainer.DivergenceError, checkpoint.CheckpointError,
          data_lib.MissingExtraError, lock.WorkdirLocked) as e:
    sys.exit(f"{type(e).__name__}: {e}")
  except OSError as e:
    if e.errno not in (errno.ENOSPC, errno.EDQUOT):
      raise
    sys.exit(f"{type(e).__name__}: {e}. The disk is full: free space on it, then "
             "run the same command to resume from the last checkpoint.")


def parse_flags(argv):
  """absl's flag parsing, with a shipped config found by its bare name and a
  one-line error for a missing config or a misspelled config key."""
  try:
    argv = config_files.resolve_flag(argv)
  except FileNotFoundError as e:
    sys.exit(f"Bad --config: {e}")
  try:
    return app.parse_flags_with_usage(argv)
  except (AttributeError, KeyError, TypeError, ValueError) as e:
    # ml_collections raises these for an unknown key or a value of the wrong type.
    text = str(e).replace("\\n", "\n").replace("\\'", "'")
    key, hint = re.search(r"'(\w+)'", text), re.search(r"Did you mean [^\n]*\?", text)
    message = (f"unknown key {key.group(1)!r}. {hint.group(0) if hint else ''}" if key
               else text)
    sys.exit(f"Bad config override: {message.strip()}")


def run(argv: list[str]) -> None:
  """The command on `argv` (argv[0]: the program's name)."""
  cli.quiet_logging()
  define_flags()
  app.run(main, argv=argv, flags_parser=parse_flags)
