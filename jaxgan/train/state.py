"""Explicit training state of a GAN: one TrainState per player, the step, and EMA."""

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax
from flax.training import train_state


class TrainState(train_state.TrainState):
  """A player's parameters, optimizer state and BatchNorm statistics."""
  batch_stats: Any = None


@flax.struct.dataclass
class GANState:
  """Everything that changes during training; a pytree, so it can be pmapped,
  donated and checkpointed whole.

  Attributes:
    step: number of completed training steps (one step = n_critic
      discriminator updates and one generator update).
    generator: the generator's TrainState.
    discriminator: the discriminator's TrainState.
    ema_params: exponential moving average of the generator's parameters, or
      None when `train.ema_decay` is 0.
  """
  step: jax.Array
  generator: TrainState
  discriminator: TrainState
  ema_params: Any = None


def create(rng: jax.Array, generator, discriminator, g_tx: optax.GradientTransformation,
           d_tx: optax.GradientTransformation, *, latent_dim: int, image_shape: tuple,
           ema_decay: float, cond_shape: tuple | None = None) -> GANState:
  """Initialises both players from `rng` (compiled: one program, not
  hundreds of op-by-op dispatches). `cond_shape`: the shape of one
  conditional input (a paired input image) of conditional models."""

  @jax.jit
  def init(rng):
    g_rng, d_rng = jax.random.split(rng)
    z = jnp.zeros((2, latent_dim), jnp.float32)
    x = jnp.zeros((2, *image_shape), jnp.float32)
    cond = () if cond_shape is None else (jnp.zeros((2, *cond_shape), jnp.float32),)
    g_vars = generator.init(g_rng, z, *cond, train=False)
    d_vars = discriminator.init(d_rng, x, *cond, train=False)
    g_state = TrainState.create(apply_fn=generator.apply, params=g_vars["params"],
                                tx=g_tx, batch_stats=g_vars.get("batch_stats", {}))
    d_state = TrainState.create(apply_fn=discriminator.apply, params=d_vars["params"],
                                tx=d_tx, batch_stats=d_vars.get("batch_stats", {}))
    ema = jax.tree.map(jnp.copy, g_state.params) if ema_decay > 0 else None
    return GANState(step=jnp.zeros((), jnp.int32), generator=g_state,
                    discriminator=d_state, ema_params=ema)

  return init(rng)


def sampling_params(state: GANState) -> dict:
  """Generator variables to sample with: EMA parameters when kept."""
  params = state.ema_params if state.ema_params is not None else state.generator.params
  return {"params": params, "batch_stats": state.generator.batch_stats}
