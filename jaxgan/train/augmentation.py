"""The augmentation of every image the discriminator sees, in training.

`config.loss.augment` names one entry of `AUGMENTATIONS` (empty: none). The
step then augments each batch D is applied to: the real and the fake batch of
every D update, both batches of the G update (G's gradient passes through the
augmentation, which is differentiable), and the inputs of the gradient
penalties (R1 is taken with respect to the image before augmentation, as in
stylegan2-ada-pytorch's `StyleGAN2Loss`). Each example gets its own random
transform, drawn for the global batch from the D pass's key, so the run does
not depend on the number of devices. The transforms are `jaxgan.augment`'s.

ADA's probability p adapts (Karras et al. 2020, §3; stylegan2-ada-pytorch
training/training_loop.py): every `ada_interval` steps,
r_t = E[sign(D(x_real))] over those steps' D updates, and
p <- clip(p + sign(r_t - ada_target) * batch * interval / (ada_kimg * 1000), 0, 1),
so p can go from 0 to 1 in ada_kimg thousand images. p, the running sum of
signs and their count are kept in `GANState.terms['augment']`, so they are
checkpointed and restored exactly. With `ada_target = 0`, p is fixed at
`augment_p` (or follows its schedule, `config.loss.schedules`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxgan import augment

AXIS = "batch"  # the step's pmap axis
STATE_KEY = "augment"  # its key in GANState.terms


@dataclasses.dataclass(frozen=True)
class Spec:
  """A registered augmentation: `apply(x, key, p, config_loss) -> x` on a
  batch; `uses_p`: whether it has a probability p (ADA)."""
  name: str
  doc: str
  apply: Callable[[jax.Array, jax.Array, Any, Any], jax.Array]
  uses_p: bool
  check: Callable[[Any], None] | None = None


def _check_policy(config_loss: Any) -> None:
  augment.parse_policy(config_loss.augment_policy)


def _check_ada(config_loss: Any) -> None:
  if config_loss.ada_pipeline not in augment.ADA_PIPELINES:
    raise ValueError(f"Unknown ADA pipeline {config_loss.ada_pipeline!r} "
                     f"(config.loss.ada_pipeline); valid: {', '.join(augment.ADA_PIPELINES)}.")
  target = config_loss.ada_target
  if target != 0 and not 0 < target < 1:
    raise ValueError(f"config.loss.ada_target must be in (0, 1) (ADA's 0.6), or 0 for "
                     f"a fixed p; got {target}.")
  if int(config_loss.ada_interval) < 1:
    raise ValueError(f"config.loss.ada_interval must be >= 1 step, got "
                     f"{config_loss.ada_interval}.")
  if not config_loss.ada_kimg > 0:
    raise ValueError(f"config.loss.ada_kimg must be > 0, got {config_loss.ada_kimg}.")


AUGMENTATIONS = {
    "diffaugment": Spec(
        "diffaugment", "DiffAugment (Zhao et al. 2020): the transforms of "
        "config.loss.augment_policy", lambda x, key, p, c: augment.diffaugment(
            x, key, c.augment_policy), uses_p=False, check=_check_policy),
    "ada": Spec(
        "ada", "ADA (Karras et al. 2020): each transform of config.loss.ada_pipeline "
        "with probability p", lambda x, key, p, c: augment.ada_augment(
            x, key, p, pipeline=c.ada_pipeline), uses_p=True, check=_check_ada),
}

# config.loss keys: the augmentation, its options and their defaults.
_DEFAULTS = dict(augment="", augment_policy="color,translation,cutout", augment_p=0.0,
                 ada_pipeline="bgc", ada_target=0.6, ada_interval=4, ada_kimg=500.0)
SCHEDULABLE = ("augment_p",)


def config_defaults() -> dict:
  return dict(_DEFAULTS)


def check_config(config: Any) -> None:
  """Rejects an augmentation `config` cannot use, saying what to change."""
  loss = config.loss
  name = loss.get("augment", "")
  if not name:
    return
  if name not in AUGMENTATIONS:
    raise ValueError(f"Unknown augmentation {name!r} (config.loss.augment); valid: "
                     f"{', '.join(AUGMENTATIONS)}, or '' for none.")
  if config.data.source == "toy":
    raise ValueError(f"config.loss.augment={name!r} transforms images, but config.data "
                     "is toy 2-D points; set config.loss.augment=''.")
  if not 0 <= loss.augment_p <= 1:
    raise ValueError(f"config.loss.augment_p must be in [0, 1], got {loss.augment_p}.")
  AUGMENTATIONS[name].check(loss)


def initial_state(config_loss: Any = None) -> dict:
  """p (`config_loss.augment_p`, 0 without a config), and the sum and count
  of sign(D(x_real)) since p last changed."""
  p = 0.0 if config_loss is None else float(config_loss.get("augment_p", 0.0))
  zero = jnp.zeros((), jnp.float32)
  return {"p": jnp.asarray(p, jnp.float32), "signs": zero, "count": zero}


@dataclasses.dataclass(frozen=True)
class Augmentation:
  """The augmentation of a run, built from `config.loss` by `from_config`."""
  spec: Spec
  config: Any
  adaptive: bool

  def apply(self, x: jax.Array, key: jax.Array, p: Any, global_batch: int) -> jax.Array:
    """x (this device's slice of the global batch) augmented, each example
    with its own key from `split(key, global_batch)`."""
    local = x.shape[0]
    keys = jax.random.split(key, global_batch)
    keys = lax.dynamic_slice_in_dim(keys, lax.axis_index(AXIS) * local, local)
    one = lambda xi, ki: self.spec.apply(xi[None], ki, p, self.config)[0]
    return jax.vmap(one)(x, keys)

  def observe(self, state: dict, real_logits: jax.Array) -> dict:
    """The state after a D update with `real_logits` (ADA's statistic)."""
    if not self.adaptive:
      return state
    sign = lax.pmean(jnp.mean(jnp.sign(real_logits.astype(jnp.float32))), AXIS)
    return dict(state, signs=state["signs"] + lax.stop_gradient(sign),
                count=state["count"] + 1.0)

  def adjust(self, state: dict, step: jax.Array, global_batch: int) -> dict:
    """After training step `step` (counted from 0): every ada_interval steps,
    p moves toward the target and the statistic restarts."""
    if not self.adaptive:
      return state
    interval = int(self.config.ada_interval)
    due = (step + 1) % interval == 0
    r_t = state["signs"] / jnp.maximum(state["count"], 1.0)
    rate = global_batch * interval / (self.config.ada_kimg * 1000.0)
    p = jnp.clip(state["p"] + jnp.sign(r_t - self.config.ada_target) * rate, 0.0, 1.0)
    zero = jnp.zeros_like(state["signs"])
    return {"p": jnp.where(due, p, state["p"]), "signs": jnp.where(due, zero, state["signs"]),
            "count": jnp.where(due, zero, state["count"])}


def from_config(config_loss: Any) -> Augmentation | None:
  name = config_loss.get("augment", "")
  if not name:
    return None
  spec = AUGMENTATIONS[name]
  return Augmentation(spec, config_loss,
                      adaptive=spec.uses_p and config_loss.get("ada_target", 0.0) > 0)
