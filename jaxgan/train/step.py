"""The training step: n_critic discriminator updates, then one generator update.

`train_step` is pure and is meant to run under `jax.pmap(..., axis_name=AXIS)`.
Each device holds a slice of the global batch; gradients are averaged with
`lax.pmean` and BatchNorm statistics are synchronised over the same axis (the
models take `axis_name=AXIS`), so a step on n devices computes what one device
computes on the whole batch. Random numbers (latents, interpolation weights) are
drawn for the global batch from the same key on every device, and each device
takes its own slice: the randomness, too, does not depend on the device count.
"""

import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax import lax

from jaxgan.compilation import CompiledStep, compiler_options  # noqa: F401 (re-exported)
from jaxgan.data import to_float
from jaxgan.train import augmentation, schedules
from jaxgan.train import objective as objective_lib
from jaxgan.train.state import GANState

AXIS = objective_lib.AXIS
AUGMENT = augmentation.STATE_KEY


def _local_slice(x: jax.Array, local_size: int) -> jax.Array:
  """This device's rows of an array drawn for the global batch."""
  start = lax.axis_index(AXIS) * local_size
  return lax.dynamic_slice_in_dim(x, start, local_size)


def _mean_probability(logits: jax.Array) -> jax.Array:
  return jnp.mean(jax.nn.sigmoid(logits))


def _outputs(out, features=None) -> objective_lib.Outputs:
  """A discriminator's outputs: discriminators return logits (B,), or
  {'logits': (B,), 'class_logits': (B, K)}."""
  if isinstance(out, dict):
    return objective_lib.Outputs(out["logits"], out.get("class_logits"), features)
  return objective_lib.Outputs(out, None, features)


def _players(generator: nn.Module, discriminator: nn.Module, latent_dim: int,
             global_batch: int, local_batch: int, augment: Callable | None = None):
  """(noise, generate, discriminate, apply_generator): this device's
  latents, both players applied in training mode, returning their new batch
  statistics, and any method of G; `augment(x, key)`: what D sees of every
  batch it is applied to."""
  def noise(key, n=global_batch):
    """This device's rows of n latents (n: a global batch)."""
    return _local_slice(jax.random.normal(key, (n, latent_dim)),
                        n * local_batch // global_batch)

  def generate(g_params, g_stats, z, cond, key):
    inputs = (z,) if cond is None else (z, cond)
    fake, updates = generator.apply({"params": g_params, "batch_stats": g_stats},
                                    *inputs, train=True, mutable=["batch_stats"],
                                    rngs={"dropout": jax.random.fold_in(key, 0)})
    return fake, updates["batch_stats"]

  def apply_generator(g_params, *args, g_stats, method, key):
    """G's `method` in training mode (for a term that runs G again; its
    batch statistics' updates are dropped)."""
    return generator.apply({"params": g_params, "batch_stats": g_stats}, *args,
                           train=True, method=method, mutable=["batch_stats"],
                           rngs={"dropout": jax.random.fold_in(key, 0)})[0]

  def discriminate(d_params, d_stats, x, cond, key, features=False):
    """(Outputs, new batch_stats); features: also D's sown 'features'."""
    if augment is not None:
      x = augment(x, jax.random.fold_in(key, 2))
    inputs = (x,) if cond is None else (x, cond)
    mutable = ["batch_stats", "intermediates"] if features else ["batch_stats"]
    out, updates = discriminator.apply({"params": d_params, "batch_stats": d_stats},
                                       *inputs, train=True, mutable=mutable,
                                       rngs={"dropout": jax.random.fold_in(key, 1)})
    feats = updates["intermediates"]["features"][0] if features else None
    return _outputs(out, feats), updates.get("batch_stats", d_stats)

  return noise, generate, discriminate, apply_generator


def _d_metrics(d_loss, real_logits, fake_logits) -> dict:
  return {"d_loss": d_loss, "d_real_prob": _mean_probability(real_logits),
          "d_fake_prob": _mean_probability(fake_logits),
          "d_real_logit": jnp.mean(real_logits), "d_fake_logit": jnp.mean(fake_logits)}


def _step_inputs(batch: dict, condition: str | None, labeled: bool) -> tuple:
  """(images, conditions, labels, labelled batch) of a step's batch, each
  with leading axes (n_critic, local batch); pixels as floats in [-1, 1]."""
  conds = {None: None, "label": batch.get("label"),
           "source": to_float(batch["source"]) if condition == "source" else None}[condition]
  labeled_batch = ({"image": to_float(batch["labeled_image"]),
                    "label": batch["labeled_label"]} if labeled else None)
  return to_float(batch["image"]), conds, batch.get("label"), labeled_batch


def _d_update(d_state, term_states: dict, real, fake, cond, label, labeled, key, clock, *,
              discriminate, objective: objective_lib.Objective, global_batch: int,
              local_batch: int):
  """One discriminator update: the adversarial loss on (real, fake) plus the
  active D terms; `clock`: (the step, this update's count); returns (new D
  state, the terms' states, metrics)."""
  _, real_key, fake_key = jax.random.split(key, 3)

  def loss_fn(params):
    real_out, stats = discriminate(params, d_state.batch_stats, real, cond, real_key)
    fake_out, stats = discriminate(params, stats, fake, cond, fake_key)
    d_loss = objective.loss.d_loss(real_out.logits, fake_out.logits)
    inputs = objective_lib.DInputs(
        real=real, fake=fake, cond=cond, label=label, labeled=labeled,
        real_out=real_out, fake_out=fake_out,
        critic=lambda x: discriminate(params, d_state.batch_stats, x, cond,
                                      real_key)[0].logits,
        discriminate=lambda x, c, k, s: discriminate(params, s, x, c, k),
        batch_stats=stats, key=key, global_batch=global_batch, local_batch=local_batch,
        step=clock[0], update=clock[1], real_key=real_key, fake_key=fake_key)
    total, metrics, stats, states = objective.add_terms("d", d_loss, inputs, term_states)
    if objective.augment is not None:
      states[AUGMENT] = objective.augment.observe(states[AUGMENT], real_out.logits)
    metrics.update(_d_metrics(d_loss, real_out.logits, fake_out.logits))
    return total, (stats, metrics, states)

  grads, (stats, metrics, term_states) = jax.grad(loss_fn, has_aux=True)(d_state.params)
  grads = lax.pmean(grads, AXIS)
  metrics["d_grad_norm"] = optax.tree.norm(grads)
  return d_state.apply_gradients(grads=grads, batch_stats=stats), term_states, metrics


def _g_loss(fake, params, real, cond, label, d_state, key, term_states: dict, step, *,
            discriminate, objective: objective_lib.Objective, generator=None, latents=None):
  """G's loss on its output `fake` and its parameters `params`: the
  adversarial loss through D (after its update) plus the active G terms
  (a term on the weights, BigGAN's orthogonal regularization, reads
  `params`; one that runs G again, StyleGAN2's path length, `generator`
  and `latents`, see `objective.GInputs`); (loss, (metrics, the terms'
  states))."""
  features = objective.needs("features", "g")
  d_params, d_stats = d_state.params, d_state.batch_stats
  fake_out, _ = discriminate(d_params, d_stats, fake, cond, key, features)
  # Only relativistic losses and terms on real data use the real batch;
  # otherwise XLA drops this pass.
  real_out, _ = discriminate(d_params, d_stats, real, cond, key, features)
  adversarial = objective.loss.g_loss(lax.stop_gradient(real_out.logits), fake_out.logits)
  inputs = objective_lib.GInputs(fake=fake, real=real, cond=cond, label=label,
                                 fake_out=fake_out, real_out=real_out,
                                 key=jax.random.fold_in(key, 5), step=step, params=params,
                                 generator=generator, latents=latents)
  g_loss, metrics, _, states = objective.add_terms(
      "g", objective.adv_weight * adversarial, inputs, term_states)
  if metrics:
    metrics["g_adversarial_loss"] = adversarial
  return g_loss, (metrics, states)


def _g_gradients(fake, g_vjp, g_params, *args, discriminate, objective, **g_fns):
  """(G's loss, its metrics, the terms' states, G's gradient averaged over
  devices): the gradient through G's output `fake` (`g_vjp`) plus that of
  the terms on its parameters (zeros, which XLA drops, when no active term
  reads them). `args`: `_g_loss`'s after `params`; `g_fns`: its `generator`
  and `latents`."""
  (g_loss, (g_metrics, term_states)), (fake_grads, param_grads) = jax.value_and_grad(
      _g_loss, argnums=(0, 1), has_aux=True)(
          fake, g_params, *args, discriminate=discriminate, objective=objective, **g_fns)
  (g_grads,) = g_vjp(fake_grads)
  g_grads = jax.tree.map(jnp.add, g_grads, param_grads)
  return g_loss, g_metrics, term_states, lax.pmean(g_grads, AXIS)


def train_step(state: GANState, batch: dict, rng: jax.Array, *,
               generator: nn.Module, discriminator: nn.Module,
               objective: objective_lib.Objective, num_devices: int, latent_dim: int,
               ema_decay: float, condition: str | None = None, ema_rampup: float = 0.0,
               g_updates: Callable[[jax.Array], jax.Array] | None = None,
               g_batch_multiple: int = 1) -> tuple[GANState, dict]:
  """One GAN step on this device's slice of the global batch: n_critic D
  updates, then one G update, each minimising its adversarial loss plus the
  active terms of `objective` (`jaxgan.train.objective`).

  Args:
    state: the replicated GANState.
    batch: {'image': uint8 (n_critic, local_batch, H, W, C)}: one real batch
      for each D update; the G update reuses the last. (Toy data: float32
      points (n_critic, local_batch, D).) A class-conditional model's batch
      has 'label' (int, (n_critic, local_batch)), an image-to-image model's
      'source' (uint8 paired inputs); a semi-supervised run's also
      'labeled_image' and 'labeled_label' (the labelled stream).
    rng: the run's base key, identical on all devices; folded with the step.
    generator, discriminator: Flax modules built with `axis_name=AXIS`;
      `G(z[, cond], train=)` and `D(x[, cond], train=)`, see `jaxgan.models`.
    objective: the adversarial pair, its terms and their weights.
    num_devices, latent_dim: devices taking part (all hosts'); size of z.
    ema_decay: decay of the generator's parameter EMA (0 when not kept),
      ramped up with `ema_rampup` as `ema_decay_at` says.
    condition: what G and D are given as `cond`: 'label', 'source' or None.
    g_updates: whether step s updates G (`schedules.G_UPDATES`); None: all do.
    g_batch_multiple: G's update takes k global batches of its own (see `_fakes`).

  Returns:
    The new state and a dict of scalar metrics averaged over devices.
  """
  images, conds, labels, labeled = _step_inputs(batch, condition, objective.needs("labeled", "d"))
  n_critic, local_batch = images.shape[:2]
  global_batch = local_batch * num_devices
  noise, generate, discriminate, apply_generator = _players(
      generator, discriminator, latent_dim, global_batch, local_batch,
      _augmenter(objective, state, global_batch))
  d_update = functools.partial(_d_update, discriminate=discriminate, objective=objective,
                               global_batch=global_batch, local_batch=local_batch)
  g_state, d_state = state.generator, state.discriminator
  keys = jax.random.split(jax.random.fold_in(rng, state.step), n_critic)
  at = lambda tree, i: None if tree is None else jax.tree.map(lambda x: x[i], tree)
  # The first n_critic - 1 discriminator updates each see a fresh fake batch.
  def critic_update(carry, inputs):
    g_stats, d_state, term_states = carry
    real, cond, label, labeled, key, i = inputs
    z_key, g_key, d_key = jax.random.split(key, 3)
    fake, g_stats = generate(g_state.params, g_stats, noise(z_key), cond, g_key)
    d_state, term_states, _ = d_update(d_state, term_states, real,
                                       lax.stop_gradient(fake), cond, label, labeled, d_key,
                                       (state.step, state.step * n_critic + i))
    return (g_stats, d_state, term_states), None

  g_stats, term_states = g_state.batch_stats, state.terms
  if n_critic > 1:
    (g_stats, d_state, term_states), _ = lax.scan(
        critic_update, (g_stats, d_state, term_states),
        (images[:-1], at(conds, slice(None, -1)), at(labels, slice(None, -1)),
         at(labeled, slice(None, -1)), keys[:-1], jnp.arange(n_critic - 1)))

  # The last D update, then G's; G's backward pass runs through D after its update.
  z_key, g_key, d_key = jax.random.split(keys[-1], 3)
  real, cond, label, labeled = (images[-1], at(conds, -1), at(labels, -1),
                                at(labeled, -1))
  d_fake, fake, g_vjp, g_stats = _fakes(generate, noise, g_state.params, g_stats, cond,
                                        z_key, g_key, g_batch_multiple, global_batch)
  d_state, term_states, metrics = d_update(
      d_state, term_states, real, lax.stop_gradient(d_fake), cond, label, labeled, d_key,
      (state.step, state.step * n_critic + n_critic - 1))
  g_loss, g_metrics, term_states, g_grads = _g_gradients(
      fake, g_vjp, g_state.params, real, cond, label, d_state, d_key, term_states,
      state.step, discriminate=discriminate, objective=objective,
      generator=functools.partial(apply_generator, g_stats=g_stats), latents=noise)
  g_state = g_state.apply_gradients(grads=g_grads, batch_stats=g_stats)
  metrics.update(g_loss=g_loss, g_grad_norm=optax.tree.norm(g_grads), **g_metrics)
  term_states = _adapt_augmentation(objective, term_states, metrics, state.step, global_batch)
  return _next_state(state, g_state, d_state, term_states, metrics, g_updates=g_updates,
                     ema_decay=ema_decay, ema_rampup=ema_rampup)


def _fakes(generate, noise, params, stats, cond, z_key, g_key, multiple: int,
           global_batch: int):
  """(the last D update's fake batch, G's, the vjp of G's in G's parameters,
  G's batch statistics after them). With `multiple` 1 one forward pass serves
  both, as in the canonical DCGAN loop; with k > 1, G's update draws its own
  k global batches of latents (an unconditional G: there are no conditions
  for them), as the official SNGAN and WGAN-GP CIFAR-10 codes (128 samples
  at batch 64: sngan_projection's `n_gen_samples`, improved_wgan_training's
  `GEN_BS_MULTIPLE`)."""
  if multiple == 1:
    fake, g_vjp, stats = jax.vjp(lambda p: generate(p, stats, noise(z_key), cond, g_key),
                                 params, has_aux=True)
    return fake, fake, g_vjp, stats
  d_fake, stats = generate(params, stats, noise(z_key), cond, g_key)
  gz_key, gg_key = jax.random.split(jax.random.fold_in(g_key, 1))
  fake, g_vjp, stats = jax.vjp(
      lambda p: generate(p, stats, noise(gz_key, multiple * global_batch), cond, gg_key),
      params, has_aux=True)
  return d_fake, fake, g_vjp, stats


def _next_state(state: GANState, g_state, d_state, term_states: dict, metrics: dict, *,
                g_updates, ema_decay: float, ema_rampup: float) -> tuple[GANState, dict]:
  """(The state after the step, its metrics averaged over devices), from the
  players' updated states. On a step that a G-update schedule (`g_updates`)
  leaves out, G's parameters, optimizer state and EMA stay as they were (the
  step's G loss is still computed, and logged); its batch statistics advance,
  as G ran in training mode for the critic (as in the reference WGAN code),
  and so do the terms' states (`objective`'s; G's EMA ramp-up counts steps).
  Such a schedule also logs 'g_updated' (1 or 0; a call's mean is the fraction
  of its steps that updated G)."""
  step = state.step + 1  # traced before the EMA, in the order the step always had
  ema_params = _ema(state, g_state.params, ema_decay, ema_rampup)
  if g_updates is not None:
    g_state, ema_params = _gate_generator(g_updates(state.step), state, g_state,
                                          ema_params, metrics)
  new_state = state.replace(step=step, generator=g_state, discriminator=d_state,
                            terms=term_states, ema_params=ema_params)
  return new_state, lax.pmean(metrics, AXIS)


def _gate_generator(on: jax.Array, state: GANState, g_state, ema_params, metrics: dict):
  """(G's state, its EMA): the updated ones where `on`, else the step's
  starting ones with the new batch statistics; see `_next_state`."""
  metrics["g_updated"] = on.astype(jnp.float32)
  where = lambda new, old: jax.tree.map(lambda a, b: jnp.where(on, a, b), new, old)
  kept = state.generator.replace(batch_stats=g_state.batch_stats)
  return where(g_state, kept), where(ema_params, state.ema_params)


def _augmenter(objective: objective_lib.Objective, state: GANState, global_batch: int):
  """`augment(x, key)`: what D sees of a batch this step, or None."""
  if objective.augment is None:
    return None
  p = objective.augment_p(state.terms, state.step)
  return lambda x, key: objective.augment.apply(x, key, p, global_batch)


def _adapt_augmentation(objective: objective_lib.Objective, term_states: dict,
                        metrics: dict, step, global_batch: int) -> dict:
  """The terms' states after the step's ADA adjustment of p (logged)."""
  if objective.augment is None:
    return term_states
  term_states = dict(term_states)
  term_states[AUGMENT] = objective.augment.adjust(term_states[AUGMENT], step, global_batch)
  metrics["augment_p"] = objective.augment_p(term_states, step + 1)
  return term_states


def ema_decay_at(step: jax.Array, ema_decay: float, ema_rampup: float = 0.0) -> jax.Array:
  """The generator EMA's decay at `step` (before its update), ramped up so
  that early on the average does not drag the initial parameters along:

  - ema_rampup = 0: min(ema_decay, (1 + t) / (10 + t)), as
    tf.train.ExponentialMovingAverage(num_updates=step);
  - ema_rampup = r > 0: StyleGAN2's ramp (stylegan2-ada-pytorch
    training_loop.py: beta = 0.5 ** (batch / min(ema_nimg, cur_nimg * r)),
    ema_decay = 0.5 ** (batch / ema_nimg), cur_nimg = t * batch), which is
    min(ema_decay, 0.5 ** (1 / (t r))): 0 at the first step.
  """
  step = jnp.asarray(step).astype(jnp.float32)
  if ema_rampup > 0:
    return jnp.minimum(ema_decay, 0.5 ** (1.0 / jnp.maximum(step * ema_rampup, 1e-8)))
  return jnp.minimum(ema_decay, (1.0 + step) / (10.0 + step))


def _ema(state: GANState, params: Any, ema_decay: float, ema_rampup: float) -> Any:
  """The generator's parameter EMA after this step (None when not kept)."""
  if state.ema_params is None:
    return None
  decay = ema_decay_at(state.step, ema_decay, ema_rampup)
  return optax.incremental_update(params, state.ema_params, 1.0 - decay)


def _all_finite(metrics: dict) -> jax.Array:
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(m)) for m in jax.tree.leaves(metrics)]))


def train_steps(state: GANState, batches: dict, rng: jax.Array,
                data: dict | None = None, *, step_fn,
                skip_nonfinite: bool = False) -> tuple[GANState, dict]:
  """Several training steps in one call: a loop of `step_fn` over `batches`.

  Steps whose metrics (losses, gradient norms, ...) are not all finite are
  counted, and the first one's number and metrics returned. With
  `skip_nonfinite`, such a step's update is dropped (only the step counter
  advances) and training goes on; finite steps are applied exactly as without
  this check. Without it, the caller must stop at a non-finite step (as the
  trainer and the sweep do, keeping the last checkpoint): the returned state
  then holds that step's update and is not to be saved. (Keeping the state
  before the bad step instead would cost a select of old and new over the
  whole state on every step.)

  Args:
    state: the replicated GANState.
    batches: the steps' batches stacked on a leading axis of length K, either
      {'image': uint8 (K, n_critic, local_batch, H, W, C), ...} (see
      `train_step`) or, for a dataset held on the device, {'index': int
      (K, n_critic, local_batch), ...}: the indices into `data`, and any
      other keys as they are (the labelled batch of semi-supervised runs).
    rng: the run's base key.
    data: the whole dataset on this device, {'image': (N, H, W, C), ...}
      with the keys of a batch, or None.
    step_fn: `train_step` with its keyword arguments bound.
    skip_nonfinite: skip non-finite updates and go on (else the caller stops).

  Returns:
    The state after K steps (see above for a call with a non-finite step),
    and the call's metrics, for each metric `name` of the step:

    - `name`: its mean over the call's finite steps,
    - 'min'[name], 'max'[name]: its smallest and largest value on them
      (mean, min and max are NaN when no step was finite),
    - 'nonfinite'[name]: its value at the first non-finite step (0 if none),

    and 'finite_steps' (how many of the K steps were finite), 'nonfinite_step'
    (the number, counted from 1, of the first step in this call with a
    non-finite metric; 0 if none) and 'nonfinite_count' (K - finite_steps).
    A caller that averages over several calls weights each call's means by
    its finite_steps.
  """
  def one_step(state, i):
    batch = jax.tree.map(lambda x: x[i], batches)
    if data is not None:  # gather the examples; other keys (labelled) come as they are
      batch = {**{k: v for k, v in batch.items() if k != "index"},
               **{k: jnp.take(v, batch["index"], axis=0) for k, v in data.items()}}
    return step_fn(state, batch, rng)

  def loop_body(s, carry):
    state, stats, first_bad, num_bad = carry
    new_state, metrics = one_step(state, s - start)
    finite = _all_finite(metrics)
    if skip_nonfinite:
      keep = state.replace(step=new_state.step)
      state = jax.tree.map(lambda a, b: jnp.where(finite, a, b), new_state, keep)
    else:  # The caller stops at the first non-finite step.
      state = new_state
    stats = _accumulate(stats, metrics, finite, (first_bad == 0) & ~finite)
    first_bad = jnp.where((first_bad == 0) & ~finite, s + 1, first_bad)
    return state, stats, first_bad, num_bad + (~finite).astype(jnp.int32)

  num_steps = jax.tree.leaves(batches)[0].shape[0]
  shapes = jax.eval_shape(one_step, state, 0)[1]
  full = lambda value: jax.tree.map(lambda x: jnp.full(x.shape, value, x.dtype), shapes)
  stats = {"sum": full(0), "min": full(jnp.inf), "max": full(-jnp.inf),
           "nonfinite": full(0)}
  # The trip count is read from the step counter at run time, so XLA keeps the
  # loop even for one step: every K runs the same compiled step, and K steps
  # per call give bit-identical results to one step per call.
  start = state.step
  zero = jnp.zeros((), jnp.int32)
  state, stats, first_bad, num_bad = lax.fori_loop(
      start, start + num_steps, loop_body, (state, stats, zero, zero))
  return state, _call_metrics(stats, num_steps - num_bad, first_bad, num_bad)


def _accumulate(stats: dict, metrics: dict, finite: jax.Array, first_bad: jax.Array
                ) -> dict:
  """A call's running sum, min and max of the finite steps' metrics, and the
  metrics of its first non-finite step (`first_bad`: this step is it)."""
  where = lambda cond, new, old: jax.tree.map(lambda a, b: jnp.where(cond, a, b), new, old)
  return {"sum": where(finite, jax.tree.map(jnp.add, stats["sum"], metrics), stats["sum"]),
          "min": where(finite, jax.tree.map(jnp.minimum, stats["min"], metrics),
                       stats["min"]),
          "max": where(finite, jax.tree.map(jnp.maximum, stats["max"], metrics),
                       stats["max"]),
          "nonfinite": where(first_bad, metrics, stats["nonfinite"])}


def _call_metrics(stats: dict, finite_steps: jax.Array, first_bad: jax.Array,
                  num_bad: jax.Array) -> dict:
  """What `train_steps` returns of a call's `_accumulate`d statistics."""
  none = lambda x: jnp.where(finite_steps > 0, x, jnp.nan)
  mean = jax.tree.map(lambda x: none(x / jnp.maximum(finite_steps, 1)), stats["sum"])
  return dict(mean, min=jax.tree.map(none, stats["min"]),
              max=jax.tree.map(none, stats["max"]), nonfinite=stats["nonfinite"],
              finite_steps=finite_steps, nonfinite_step=first_bad, nonfinite_count=num_bad)


def condition(config: Any) -> str | None:
  """What the players of `config.model` are given as `cond`: 'label' (a
  class-conditional model), 'source' (an image-to-image one) or None."""
  from jaxgan import models  # pylint: disable=g-import-not-at-top
  return {"class_conditional": "label", "paired": "source"}.get(
      models.kind(config.model))


def bind_step(generator, discriminator, config: Any, num_devices: int,
              objective: objective_lib.Objective | None = None) -> Callable:
  """`train_step` with everything but (state, batch, rng) bound from `config`
  (`objective`: instead of `config.loss`'s, e.g. with a sweep's traced weights)."""
  return functools.partial(
      train_step, generator=generator, discriminator=discriminator,
      objective=objective or objective_lib.Objective.from_config(config.loss,
                                                                 config.train.num_steps),
      num_devices=num_devices, latent_dim=config.model.latent_dim,
      ema_decay=config.train.ema_decay, condition=condition(config),
      ema_rampup=float(config.train.get("ema_rampup", 0.0)),
      g_updates=schedules.g_updates(config.train),
      g_batch_multiple=int(config.train.get("g_batch_multiple", 1)))


def make_train_step(generator, discriminator, config: Any, num_devices: int):
  """Binds the fixed parts of the step and pmaps `train_steps`, donating the
  state: `p_step(state, batches, rng, data=None) -> (state, metrics)`, a
  `CompiledStep` compiled with `compiler_options()`.
  `config.train.skip_nonfinite` picks what a non-finite step does."""
  step_fn = bind_step(generator, discriminator, config, num_devices)
  pmapped = jax.pmap(functools.partial(
      train_steps, step_fn=step_fn,
      skip_nonfinite=bool(config.train.get("skip_nonfinite", False))),
                     axis_name=AXIS, donate_argnums=(0,))
  return CompiledStep(pmapped, compiler_options())
