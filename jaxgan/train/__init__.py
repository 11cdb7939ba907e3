"""Training: explicit GAN state, the pmapped step, and the loop around it.

The package is also callable: `jaxgan.train(config, workdir)` is
`train_and_evaluate(config, workdir)`, where `config` may also be a shipped
config's name or a config file's path (`jaxgan.load_config`).
"""

import sys
import types

from jaxgan.train.state import GANState, TrainState
from jaxgan.train.step import AXIS, make_train_step, train_step
from jaxgan.train.trainer import train_and_evaluate
from jaxgan.train.validation import check_config

__all__ = ["AXIS", "GANState", "TrainState", "check_config", "make_train_step",
           "train_and_evaluate", "train_step"]


class _CallablePackage(types.ModuleType):
  """This package, callable as `jaxgan.train(config, workdir, **kwargs)`."""

  def __call__(self, config, workdir: str, **kwargs):
    """Trains `config` (a ConfigDict, a shipped config's name or a config
    file's path) in `workdir`: `train_and_evaluate(config, workdir, **kwargs)`."""
    if isinstance(config, str):
      from jaxgan import config_files  # pylint: disable=g-import-not-at-top
      config = config_files.load_config(config)
    return train_and_evaluate(config, workdir, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
