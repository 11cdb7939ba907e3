"""The augmentation of every image the discriminator sees, in training.

`config.loss.augment` names one entry of `jaxgan.augment.AUGMENTATIONS`
('' for none), whose options are the `config.loss.augment_<option>` keys. The
step then augments each batch D is applied to: the real and the fake batch of
every D update, both batches of the G update (G's gradient passes through the
augmentation, which is differentiable), and the inputs of the gradient
penalties (R1 is taken with respect to the image before augmentation, as in
stylegan2-ada-pytorch's `StyleGAN2Loss`). Each example gets its own random
transform, drawn for the global batch from the D pass's key, so the run does
not depend on the number of devices.

ADA's probability p adapts (Karras et al. 2020, §3; stylegan2-ada-pytorch
training/training_loop.py): every `augment_interval` steps,
r_t = E[sign(D(x_real))] over those steps' D updates, and
p <- clip(p + sign(r_t - augment_target) * batch * interval / (augment_kimg * 1000),
0, augment_max_p), so p can go from 0 to 1 in augment_kimg thousand images
(`jaxgan.augment.ada_update`; the official code clips at 0 only, jaxgan at 1
too by default, p being a probability). p, the running sum of signs and their count are kept in
`GANState.terms['augment']`, so they are checkpointed and restored exactly.
With `augment_target = 0`, p is fixed at `augment_p` (or follows its
schedule, `config.loss.schedules`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxgan import augment

AXIS = "batch"  # the step's pmap axis
STATE_KEY = "augment"  # its key in GANState.terms


# config.loss keys: `augment` (a name of jaxgan.augment.AUGMENTATIONS, '' for
# none), `augment_p` (an adaptive augmentation's p at step 0, or its fixed p),
# and `augment_<option>` for every option and update option of every
# registered augmentation, with its default (`augment_policy`,
# `augment_pipeline`, the ADA ranges, `augment_target`, `augment_interval`,
# `augment_kimg`, `augment_max_p`).
SCHEDULABLE = ("augment_p",)


def _option_keys(spec: augment.AugmentSpec) -> dict:
  return {f"augment_{k}": v for k, v in {**spec.options, **spec.update_options}.items()}


def config_defaults() -> dict:
  out = {"augment": "", "augment_p": 0.0}
  for spec in augment.AUGMENTATIONS.values():
    out.update(_option_keys(spec))
  return out


def _options(config_loss: Any, spec: augment.AugmentSpec, which: str) -> dict:
  """The `fn` (which='options') or `update` ('update_options') keyword
  options of `spec` from config.loss."""
  return {k: config_loss.get(f"augment_{k}", v) for k, v in getattr(spec, which).items()}


def _check_adaptive(config_loss: Any) -> None:
  target = config_loss.augment_target
  if target != 0 and not 0 < target < 1:
    raise ValueError(f"config.loss.augment_target must be in (0, 1) (ADA's 0.6), or 0 "
                     f"for a fixed p; got {target}.")
  interval = config_loss.augment_interval
  if not float(interval).is_integer() or interval < 1:
    raise ValueError(f"config.loss.augment_interval must be an integer >= 1 step, got "
                     f"{interval}.")
  if not config_loss.augment_kimg > 0:
    raise ValueError(f"config.loss.augment_kimg must be > 0, got {config_loss.augment_kimg}.")


def check_config(config: Any) -> None:
  """Rejects an augmentation `config` cannot use, saying what to change."""
  loss = config.loss
  name = loss.get("augment", "")
  if not name:
    return
  if name not in augment.AUGMENTATIONS:
    raise ValueError(f"Unknown augmentation {name!r} (config.loss.augment); valid: "
                     f"{', '.join(augment.names())}, or '' for none.")
  if config.data.source == "toy":
    raise ValueError(f"config.loss.augment={name!r} transforms images, but config.data "
                     "is toy 2-D points; set config.loss.augment=''.")
  if not 0 <= loss.augment_p <= 1:
    raise ValueError(f"config.loss.augment_p must be in [0, 1], got {loss.augment_p}.")
  spec = augment.get(name)
  # The function checks its options (an unknown policy or pipeline, listing
  # the valid ones) on a tiny batch, without compiling anything big.
  x = jnp.zeros((1, 8, 8, config.model.get("channels", 1)), jnp.float32)
  args = (0.0,) if spec.adaptive else ()
  try:
    jax.eval_shape(lambda x: spec.fn(x, jax.random.PRNGKey(0), *args,
                                     **_options(loss, spec, "options")), x)
  except ValueError as e:
    raise ValueError(f"config.loss.augment={name!r}: {e}") from None
  if spec.adaptive:
    _check_adaptive(loss)


def initial_state(config_loss: Any = None) -> dict:
  """p (`config_loss.augment_p`, 0 without a config), and the sum and count
  of sign(D(x_real)) since p last changed."""
  p = 0.0 if config_loss is None else float(config_loss.get("augment_p", 0.0))
  zero = jnp.zeros((), jnp.float32)
  return {"p": jnp.asarray(p, jnp.float32), "signs": zero, "count": zero}


@dataclasses.dataclass(frozen=True)
class Augmentation:
  """The augmentation of a run, built from `config.loss` by `from_config`."""
  spec: augment.AugmentSpec
  options: dict
  update_options: dict
  adaptive: bool
  fixed_p: float

  def apply(self, x: jax.Array, key: jax.Array, p: Any, global_batch: int) -> jax.Array:
    """x (this device's slice of the global batch) augmented, each example
    with its own key from `split(key, global_batch)`."""
    local = x.shape[0]
    keys = jax.random.split(key, global_batch)
    keys = lax.dynamic_slice_in_dim(keys, lax.axis_index(AXIS) * local, local)
    args = (p,) if self.spec.adaptive else ()
    one = lambda xi, ki: self.spec.fn(xi[None], ki, *args, **self.options)[0]
    return jax.vmap(one)(x, keys)

  def observe(self, state: dict, real_logits: jax.Array) -> dict:
    """The state after a D update with `real_logits` (ADA's statistic: the
    global mean sign, summed over updates, and the number of updates)."""
    if not self.adaptive:
      return state
    sign = lax.pmean(jnp.mean(jnp.sign(real_logits.astype(jnp.float32))), AXIS)
    return dict(state, signs=state["signs"] + lax.stop_gradient(sign),
                count=state["count"] + 1.0)

  def adjust(self, state: dict, step: jax.Array, global_batch: int) -> dict:
    """After training step `step` (counted from 0): every `augment_interval`
    steps, p moves toward the target by `spec.update` and the statistic
    restarts."""
    if not self.adaptive:
      return state
    due = (step + 1) % int(self.update_options["interval"]) == 0
    p = self.spec.update(state["p"], state["signs"], state["count"], batch_size=global_batch,
                         **self.update_options)
    zero = jnp.zeros_like(state["signs"])
    return {"p": jnp.where(due, p, state["p"]), "signs": jnp.where(due, zero, state["signs"]),
            "count": jnp.where(due, zero, state["count"])}


def from_config(config_loss: Any) -> Augmentation | None:
  name = config_loss.get("augment", "")
  if not name:
    return None
  spec = augment.get(name)
  updates = _options(config_loss, spec, "update_options")
  return Augmentation(spec, _options(config_loss, spec, "options"), updates,
                      adaptive=spec.adaptive and updates.get("target", 0.0) > 0,
                      fixed_p=float(config_loss.get("augment_p", 0.0)))
