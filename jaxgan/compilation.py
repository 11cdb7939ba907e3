"""How jaxgan compiles its programs: XLA options per backend, ahead-of-time
compiled pmapped functions, and the persistent compilation cache.

Used by the training step (`jaxgan.train.step`), vectorised sweeps and feature
extraction for FID (`jaxgan.evaluation`): whatever runs convolutions in bulk.
"""

import hashlib
import os
import platform
from collections.abc import Callable

import jax
import numpy as np
from absl import logging


def compiler_options() -> dict[str, str]:
  """XLA options for the programs that run convolutions in bulk on this
  backend: training steps and feature extraction.

  On CPU, convolutions run on Eigen rather than YNNPACK, whose kernel
  gradients are slower for these layers, and whose forward convolutions ran
  the FID Inception at 0.3x the speed; matrix multiplies and reductions
  (BatchNorm's statistics and their gradients) stay on YNNPACK, whose
  reductions are faster than XLA's own reduce-windows. The measurements are
  in benchmarks/NOTES.md.
  """
  if jax.default_backend() != "cpu":
    return {}
  return {"xla_cpu_experimental_ynn_fusion_type":
          "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE"}


class CompiledStep:
  """A pmapped function compiled ahead of time with XLA `options`, once for
  each set of argument shapes (as `jax.pmap` compiles once per shapes).

  Called like the function; `compile(*args)` returns the compiled executable
  (for its cost analysis or compile time). An XLA that does not know an option
  compiles without the options, with a warning. With several processes
  (`jax.distributed`) calls go to the pmapped function, without the options.
  """

  def __init__(self, pmapped: Callable, options: dict[str, str]):
    self._pmapped = pmapped
    self._options = dict(options)
    self._compiled = {}

  def _key(self, args) -> tuple:
    leaves, tree = jax.tree.flatten(args)
    return tree, tuple((np.shape(x), x.dtype if hasattr(x, "dtype") else np.result_type(x))
                       for x in leaves)

  def compile(self, *args):
    """The executable for arguments like `args`, compiled on first use."""
    key = self._key(args)
    if key not in self._compiled:
      self._compiled[key] = self._compile(self._pmapped.lower(*args))
    return self._compiled[key]

  def _compile(self, lowered):
    if not self._options:
      return lowered.compile()
    try:
      return lowered.compile(self._options)
    except Exception as e:  # noqa: BLE001 - XLA's error type differs between versions
      if not any(name in str(e) for name in self._options):
        raise
      logging.warning("Compiling without the XLA options %s, which this jaxlib "
                      "does not take (%s).", self._options, e)
      self._options = {}
      return lowered.compile()

  def __call__(self, *args):
    if jax.process_count() > 1:
      # A compiled pmap takes global arrays; the trainer passes each
      # process's shards, which only the pmapped function assembles.
      return self._pmapped(*args)
    return self.compile(*args)(*args)


def host_fingerprint() -> str:
  """16 hex digits naming what compiled code depends on besides the program:
  the jaxlib version and this CPU's model and feature flags."""
  cpu = platform.processor()
  try:
    with open("/proc/cpuinfo") as f:
      first = f.read().split("\n\n")[0]
    cpu = "\n".join(line for line in first.splitlines()
                    if line.startswith(("model name", "flags")))
  except OSError:
    pass
  text = f"{jax.lib.__version__}\n{platform.machine()}\n{cpu}"  # jaxlib's version
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def enable_persistent_cache(directory: str | None, *,
                            min_compile_time_s: float = 1.0) -> str | None:
  """Keeps compiled programs across processes (JAX's persistent compilation
  cache), so a second run of the same config skips its compiles.

  Entries go to `directory`/`host_fingerprint()`: JAX keys them by the
  program, the compile options, the jaxlib version and the device kind, but
  not by the CPU's features, and XLA:CPU compiles for the CPU it runs on, so
  a directory shared by different machines (a network home) keeps one
  subdirectory per kind of machine. Only programs that took at least
  `min_compile_time_s` to compile are written (JAX's default: the training
  step and the state's initialisation are, small programs are not).
  `directory` None or '' leaves the cache off. Returns the directory in use
  (None: off). Call before the first compile; a
  cache already set (`JAX_COMPILATION_CACHE_DIR`, or an earlier call) is kept.
  """
  current = jax.config.jax_compilation_cache_dir
  if current:
    return current
  if not directory:
    return None
  directory = os.path.join(directory, host_fingerprint())
  os.makedirs(directory, exist_ok=True)
  jax.config.update("jax_compilation_cache_dir", directory)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_time_s)
  return directory
