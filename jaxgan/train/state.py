"""Explicit training state of a GAN: one TrainState per player, the step, EMA
and the loss terms' state."""

import dataclasses
from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax
from flax.training import train_state

from jaxgan.train import objective


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
    terms: the state that loss terms keep across steps, by term name
      (`jaxgan.train.objective.Term.init_state`); empty when none does.
  """
  step: jax.Array
  generator: TrainState
  discriminator: TrainState
  ema_params: Any = None
  terms: dict = dataclasses.field(default_factory=dict)


def create(rng: jax.Array, generator, discriminator, g_tx: optax.GradientTransformation,
           d_tx: optax.GradientTransformation, *, latent_dim: int, image_shape: tuple,
           ema_decay: float, cond: Any = None, terms: dict | None = None) -> GANState:
  """Initialises both players from `rng` (compiled: one program, not
  hundreds of op-by-op dispatches). `cond`: example conditions for a batch
  of 2 (e.g. int labels (2,)) when the players are conditional. `terms`: the
  loss terms' initial states (default: `objective.initial_states()`)."""
  if terms is None:
    terms = objective.initial_states()

  @jax.jit
  def init(rng):
    g_rng, d_rng = jax.random.split(rng)
    z = jnp.zeros((2, latent_dim), jnp.float32)
    # A packing discriminator (PacGAN) takes a multiple of `pack` samples.
    x = jnp.zeros((2 * getattr(discriminator, "pack", 1), *image_shape), jnp.float32)
    extra = () if cond is None else (cond,)
    g_vars = generator.init(g_rng, z, *extra, train=False)
    d_vars = discriminator.init(d_rng, x, *extra, train=False)
    g_state = TrainState.create(apply_fn=generator.apply, params=g_vars["params"],
                                tx=g_tx, batch_stats=g_vars.get("batch_stats", {}))
    d_state = TrainState.create(apply_fn=discriminator.apply, params=d_vars["params"],
                                tx=d_tx, batch_stats=d_vars.get("batch_stats", {}))
    ema = jax.tree.map(jnp.copy, g_state.params) if ema_decay > 0 else None
    return GANState(step=jnp.zeros((), jnp.int32), generator=g_state,
                    discriminator=d_state, ema_params=ema, terms=dict(terms))

  return init(rng)


def sampling_params(state: GANState, ema: bool = True) -> dict:
  """Generator variables to sample with: the EMA parameters when the run
  keeps them and `ema`, else the trained (raw) ones; the batch statistics
  are the raw generator's either way."""
  use_ema = ema and state.ema_params is not None
  params = state.ema_params if use_ema else state.generator.params
  return {"params": params, "batch_stats": state.generator.batch_stats}
