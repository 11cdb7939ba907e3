"""Training: explicit GAN state, the pmapped step, and the loop around it."""

from jaxgan.train.state import GANState, TrainState
from jaxgan.train.step import AXIS, make_train_step, train_step
from jaxgan.train.trainer import train_and_evaluate
from jaxgan.train.validation import check_config

__all__ = ["AXIS", "GANState", "TrainState", "check_config", "make_train_step",
           "train_and_evaluate", "train_step"]
