"""jaxgan: generative adversarial networks in JAX and Flax.

Subpackages are imported on their own (`jaxgan.losses`, `jaxgan.models`,
`jaxgan.data`, `jaxgan.train`, `jaxgan.checkpoint`); this module imports none
of them, so `import jaxgan.losses` stays light.
"""

__version__ = "0.1.0"
