"""jaxgan: generative adversarial networks in JAX and Flax.

In a notebook or another JAX project:

    import jaxgan
    config = jaxgan.load_config('dcgan')    # a shipped config, or a file's path
    jaxgan.train(config, 'runs/dcgan')      # trains (and resumes) a run
    G = jaxgan.load_generator('runs/dcgan')  # its generator, EMA when kept
    images = G.sample(jax.random.PRNGKey(0), 16)

Subpackages are imported on their own (`jaxgan.losses`, `jaxgan.models`,
`jaxgan.data`, `jaxgan.train`, `jaxgan.checkpoint`, ...); this module imports
none of them until one of the names above is used, so `import jaxgan.losses`
stays light.
"""

import importlib

__version__ = "0.1.0"

# Public names -> the module that defines them (imported on first use).
_LAZY = {
    "load_config": "jaxgan.config_files",
    "load_generator": "jaxgan.generation",
    "Generator": "jaxgan.generation",
}
_SUBPACKAGES = ("checkpoint", "cli", "config_files", "configs", "data", "evaluate",
                "evaluation", "generate", "generation", "losses", "models", "sweep",
                "train", "weights")


def __getattr__(name: str):
  if name in _LAZY:
    return getattr(importlib.import_module(_LAZY[name]), name)
  if name in _SUBPACKAGES:  # `jaxgan.train(config, workdir)` without an import
    return importlib.import_module(f"jaxgan.{name}")
  raise AttributeError(f"module 'jaxgan' has no attribute {name!r}")


def __dir__() -> list[str]:
  return sorted([*globals(), *_LAZY, *_SUBPACKAGES])
