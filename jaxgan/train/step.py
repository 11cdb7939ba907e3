"""The training step: n_critic discriminator updates, then one generator update.

`train_step` is pure and is meant to run under `jax.pmap(..., axis_name=AXIS)`.
Each device holds a slice of the global batch; gradients are averaged with
`lax.pmean` and BatchNorm statistics are synchronised over the same axis (the
models take `axis_name=AXIS`), so a step on n devices computes what one device
computes on the whole batch. Random numbers (latents, interpolation weights) are
drawn for the global batch from the same key on every device, and each device
takes its own slice: the randomness, too, does not depend on the device count.
"""

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging
from jax import lax

from jaxgan import losses
from jaxgan.data import to_float
from jaxgan.train.state import GANState

AXIS = "batch"


def _local_slice(x: jax.Array, local_size: int) -> jax.Array:
  """This device's rows of an array drawn for the global batch."""
  start = lax.axis_index(AXIS) * local_size
  return lax.dynamic_slice_in_dim(x, start, local_size)


def _on(weight) -> bool:
  """Whether a weighted term is computed: a weight > 0, or a traced weight (a
  sweep's per-member value, `jaxgan.sweep`), whose term is computed for every
  member and contributes 0 * term where the member's weight is 0."""
  return isinstance(weight, jax.Array) or weight > 0


def _mean_probability(logits: jax.Array) -> jax.Array:
  return jnp.mean(jax.nn.sigmoid(logits))


@dataclasses.dataclass(frozen=True)
class Objective:
  """What the two players minimise: the adversarial pair and the extra terms.

  Attributes:
    loss: the (d_loss, g_loss) pair, each `fn(real_logits, fake_logits)`.
    gp_weight: weight of the WGAN-GP gradient penalty (0: off).
    adv_weight: weight of the generator's adversarial term (SRGAN: 1e-3;
      0 with feature matching alone, as in 'Improved Techniques').
    feature_matching: weight of the feature-matching generator loss on the
      discriminator's 'features' (0: off).
    aux_class_weight: weight of the auxiliary classifier's cross-entropy
      (AC-GAN), on real and fake for D and on fake for G (0: off).
    l1_weight, l2_weight: weights of the mean absolute / squared error
      between G's output and the paired target image (pix2pix: L1, 100;
      SRGAN: the pixel-MSE content loss).
    semi_supervised: weight of the discriminator's supervised cross-entropy
      on the labelled batch ('labeled_image', 'labeled_label'): the
      semi-supervised GAN of 'Improved Techniques' (0: off).
    perceptual: a feature function of images (SRGAN: VGG19 features, see
      `jaxgan.models.vgg`), or None.
    perceptual_weight: weight of the mean squared distance between the
      features of G's output and of the paired target (0: off).

  The weights are floats, or traced arrays when a sweep trains members with
  different weights in one program (`jaxgan.sweep`).
  """
  loss: losses.GANLoss
  gp_weight: float = 0.0
  adv_weight: float = 1.0
  feature_matching: float = 0.0
  aux_class_weight: float = 0.0
  l1_weight: float = 0.0
  l2_weight: float = 0.0
  semi_supervised: float = 0.0
  perceptual: Callable[[jax.Array], jax.Array] | None = None
  perceptual_weight: float = 0.0

  @classmethod
  def from_config(cls, config: Any) -> "Objective":
    """From `config.loss` (missing keys take the defaults); a positive
    `perceptual_weight` loads the VGG19 weights at `vgg_weights`."""
    pair = losses.get(config.name)
    smoothing = float(config.get("label_smoothing", 0.0))
    if smoothing:
      pair = pair._replace(d_loss=functools.partial(pair.d_loss,
                                                    label_smoothing=smoothing))
    return cls(loss=pair, gp_weight=float(config.get("gp_weight", 0.0)),
               adv_weight=float(config.get("adv_weight", 1.0)),
               feature_matching=float(config.get("feature_matching", 0.0)),
               aux_class_weight=float(config.get("aux_class_weight", 0.0)),
               l1_weight=float(config.get("l1_weight", 0.0)),
               l2_weight=float(config.get("l2_weight", 0.0)),
               semi_supervised=float(config.get("semi_supervised", 0.0)),
               **_perceptual(config))


def _perceptual(config: Any) -> dict:
  """The perceptual-loss fields of an Objective from `config.loss`."""
  weight = float(config.get("perceptual_weight", 0.0))
  if weight <= 0:
    return {}
  if not config.get("vgg_weights", ""):
    raise ValueError("config.loss.perceptual_weight > 0 needs config.loss.vgg_weights: "
                     "the path of torchvision's VGG19 state dict (see jaxgan.models.vgg).")
  from jaxgan.models import vgg  # pylint: disable=g-import-not-at-top
  return {"perceptual": vgg.feature_fn(config.vgg_weights,
                                       config.get("vgg_layer", "relu5_4")),
          "perceptual_weight": weight}


def _outputs(out) -> tuple[jax.Array, jax.Array | None]:
  """A discriminator's (logits, class logits or None): discriminators return
  logits (B,), or {'logits': (B,), 'class_logits': (B, K)}."""
  if isinstance(out, dict):
    return out["logits"], out.get("class_logits")
  return out, None


def _class_loss(class_logits: jax.Array, labels: jax.Array) -> jax.Array:
  return optax.softmax_cross_entropy_with_integer_labels(class_logits, labels).mean()


def _global_mean(x: jax.Array) -> jax.Array:
  """The mean over the global batch of per-example features (B, ...)."""
  return lax.pmean(jnp.mean(x.astype(jnp.float32), axis=0), AXIS)


def train_step(state: GANState, batch: dict, rng: jax.Array, *,
               generator: nn.Module, discriminator: nn.Module,
               objective: Objective, num_devices: int, latent_dim: int,
               ema_decay: float) -> tuple[GANState, dict]:
  """One GAN training step on this device's slice of the global batch.

  Args:
    state: the replicated GANState.
    batch: {'image': uint8 (n_critic, local_batch, H, W, C)}: one real batch
      for each discriminator update; the generator update reuses the last.
      (Toy data: float32 points (n_critic, local_batch, D).) With conditional
      models also 'label' (int, (n_critic, local_batch)) or 'source' (uint8
      images, the paired input of image-to-image models): G and D get it as
      `cond`, and each fake batch is made for the real batch's conditions.
      Semi-supervised training adds 'labeled_image' (n_critic,
      local_labeled_batch, H, W, C) and 'labeled_label' from the labelled
      subset: D's class cross-entropy on them joins its loss.
    rng: the run's base key, identical on all devices; folded with the step.
    generator, discriminator: Flax modules built with `axis_name=AXIS`;
      `G(z[, cond], train=)` and `D(x[, cond], train=)`, see `jaxgan.models`.
    objective: the losses and their weights.
    num_devices: devices taking part (over all hosts).
    latent_dim: size of z.
    ema_decay: decay of the generator's parameter EMA (0 when not kept); the
      decay at step t is min(ema_decay, (1 + t) / (10 + t)).

  Returns:
    The new state and a dict of scalar metrics averaged over devices.
  """
  images = to_float(batch["image"])  # uint8 pixels to [-1, 1]; points as they are
  if "label" in batch:
    conds = batch["label"]
  elif "source" in batch:
    conds = to_float(batch["source"])
  else:
    conds = None
  labels = batch.get("label")
  labeled = ({"image": to_float(batch["labeled_image"]), "label": batch["labeled_label"]}
             if objective.semi_supervised > 0 else None)
  n_critic, local_batch = images.shape[:2]
  global_batch = local_batch * num_devices
  rng = jax.random.fold_in(rng, state.step)
  obj = objective
  with_features = _on(obj.feature_matching)

  def noise(key):
    return _local_slice(jax.random.normal(key, (global_batch, latent_dim)), local_batch)

  def generate(g_params, g_stats, z, cond, key):
    inputs = (z,) if cond is None else (z, cond)
    fake, updates = generator.apply({"params": g_params, "batch_stats": g_stats},
                                    *inputs, train=True, mutable=["batch_stats"],
                                    rngs={"dropout": jax.random.fold_in(key, 0)})
    return fake, updates["batch_stats"]

  def discriminate(d_params, d_stats, x, cond, key, features=False):
    """(logits, class logits, features or None, new batch_stats)."""
    inputs = (x,) if cond is None else (x, cond)
    mutable = ["batch_stats", "intermediates"] if features else ["batch_stats"]
    out, updates = discriminator.apply({"params": d_params, "batch_stats": d_stats},
                                       *inputs, train=True, mutable=mutable,
                                       rngs={"dropout": jax.random.fold_in(key, 1)})
    feats = updates["intermediates"]["features"][0] if features else None
    return *_outputs(out), feats, updates.get("batch_stats", d_stats)

  def d_update(d_state, real, fake, cond, label, labeled, key):
    gp_key, real_key, fake_key = jax.random.split(key, 3)

    def loss_fn(params):
      real_logits, real_class, _, stats = discriminate(
          params, d_state.batch_stats, real, cond, real_key)
      fake_logits, fake_class, _, stats = discriminate(params, stats, fake, cond, fake_key)
      d_loss = obj.loss.d_loss(real_logits, fake_logits)
      metrics = {"d_loss": d_loss,
                 "d_real_prob": _mean_probability(real_logits),
                 "d_fake_prob": _mean_probability(fake_logits),
                 "d_real_logit": jnp.mean(real_logits),
                 "d_fake_logit": jnp.mean(fake_logits)}
      if _on(obj.gp_weight):
        alpha = _local_slice(jax.random.uniform(gp_key, (global_batch,)), local_batch)
        critic = lambda x: discriminate(params, d_state.batch_stats, x, cond, real_key)[0]
        penalty = losses.gradient_penalty(critic, real, fake, alpha=alpha)
        metrics["gradient_penalty"] = penalty
        d_loss = d_loss + obj.gp_weight * penalty
      if _on(obj.aux_class_weight):
        class_loss = _class_loss(real_class, label) + _class_loss(fake_class, label)
        metrics["d_class_loss"] = class_loss
        metrics["d_real_class_accuracy"] = jnp.mean(jnp.argmax(real_class, -1) == label)
        d_loss = d_loss + obj.aux_class_weight * class_loss
      if labeled is not None:
        _, labeled_class, _, stats = discriminate(params, stats, labeled["image"],
                                                  None, jax.random.fold_in(key, 3))
        supervised = _class_loss(labeled_class, labeled["label"])
        metrics["d_supervised_loss"] = supervised
        metrics["d_labeled_accuracy"] = jnp.mean(
            jnp.argmax(labeled_class, -1) == labeled["label"])
        d_loss = d_loss + obj.semi_supervised * supervised
      return d_loss, (stats, metrics)

    grads, (stats, metrics) = jax.grad(loss_fn, has_aux=True)(d_state.params)
    grads = lax.pmean(grads, AXIS)
    metrics["d_grad_norm"] = optax.tree.norm(grads)
    return d_state.apply_gradients(grads=grads, batch_stats=stats), metrics

  g_state, d_state = state.generator, state.discriminator
  keys = jax.random.split(rng, n_critic)
  at = lambda tree, i: None if tree is None else jax.tree.map(lambda x: x[i], tree)

  # The first n_critic - 1 discriminator updates each see a fresh fake batch.
  def critic_update(carry, inputs):
    g_stats, d_state = carry
    real, cond, label, labeled, key = inputs
    z_key, g_key, d_key = jax.random.split(key, 3)
    fake, g_stats = generate(g_state.params, g_stats, noise(z_key), cond, g_key)
    d_state, _ = d_update(d_state, real, lax.stop_gradient(fake), cond, label, labeled,
                          d_key)
    return (g_stats, d_state), None

  g_stats = g_state.batch_stats
  if n_critic > 1:
    (g_stats, d_state), _ = lax.scan(
        critic_update, (g_stats, d_state),
        (images[:-1], at(conds, slice(None, -1)), at(labels, slice(None, -1)),
         at(labeled, slice(None, -1)), keys[:-1]))

  # The last discriminator update and the generator update share one generator
  # forward pass, as in the canonical DCGAN loop: the generator's backward pass
  # runs through the discriminator after its update.
  z_key, g_key, d_key = jax.random.split(keys[-1], 3)
  real, cond, label, labeled = (images[-1], at(conds, -1), at(labels, -1),
                                 at(labeled, -1))
  fake, g_vjp, g_stats = jax.vjp(
      lambda p: generate(p, g_stats, noise(z_key), cond, g_key), g_state.params,
      has_aux=True)
  d_state, metrics = d_update(d_state, real, lax.stop_gradient(fake), cond, label,
                             labeled, d_key)

  def g_loss_fn(fake):
    d_params, d_stats = d_state.params, d_state.batch_stats
    fake_logits, fake_class, fake_feats, _ = discriminate(
        d_params, d_stats, fake, cond, d_key, with_features)
    # Only relativistic losses and feature matching use the real batch;
    # otherwise XLA drops this pass.
    real_logits, _, real_feats, _ = discriminate(
        d_params, d_stats, real, cond, d_key, with_features)
    adversarial = obj.loss.g_loss(lax.stop_gradient(real_logits), fake_logits)
    g_metrics = {"g_adversarial_loss": adversarial}
    g_loss = obj.adv_weight * adversarial
    if with_features:
      fm = losses.feature_matching_loss(
          lax.stop_gradient(_global_mean(real_feats))[None],
          _global_mean(fake_feats)[None])
      g_metrics["g_feature_matching_loss"] = fm
      g_loss = g_loss + obj.feature_matching * fm
    if _on(obj.aux_class_weight):
      class_loss = _class_loss(fake_class, label)
      g_metrics["g_class_loss"] = class_loss
      g_loss = g_loss + obj.aux_class_weight * class_loss
    if _on(obj.l1_weight):
      g_metrics["g_l1_loss"] = l1 = jnp.mean(jnp.abs(fake - real))
      g_loss = g_loss + obj.l1_weight * l1
    if _on(obj.l2_weight):
      g_metrics["g_l2_loss"] = l2 = jnp.mean(jnp.square(fake - real))
      g_loss = g_loss + obj.l2_weight * l2
    if obj.perceptual_weight > 0:
      target_features = lax.stop_gradient(obj.perceptual(real))
      g_metrics["g_perceptual_loss"] = perceptual = jnp.mean(
          jnp.square(obj.perceptual(fake) - target_features))
      g_loss = g_loss + obj.perceptual_weight * perceptual
    return g_loss, g_metrics

  (g_loss, g_metrics), fake_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(fake)
  (g_grads,) = g_vjp(fake_grads)
  g_grads = lax.pmean(g_grads, AXIS)
  g_state = g_state.apply_gradients(grads=g_grads, batch_stats=g_stats)
  metrics.update(g_loss=g_loss, g_grad_norm=optax.tree.norm(g_grads))
  if len(g_metrics) > 1:
    metrics.update(g_metrics)

  ema_params = state.ema_params
  if ema_params is not None:
    # Warm-up as in tf.train.ExponentialMovingAverage(num_updates=step): early
    # on the average does not drag the initial parameters along.
    step = state.step.astype(jnp.float32)
    decay = jnp.minimum(ema_decay, (1.0 + step) / (10.0 + step))
    ema_params = optax.incremental_update(g_state.params, ema_params, 1.0 - decay)

  new_state = state.replace(step=state.step + 1, generator=g_state,
                            discriminator=d_state, ema_params=ema_params)
  return new_state, lax.pmean(metrics, AXIS)


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
    where = lambda cond, new, old: jax.tree.map(
        lambda a, b: jnp.where(cond, a, b), new, old)
    stats = {"sum": where(finite, jax.tree.map(jnp.add, stats["sum"], metrics),
                          stats["sum"]),
             "min": where(finite, jax.tree.map(jnp.minimum, stats["min"], metrics),
                          stats["min"]),
             "max": where(finite, jax.tree.map(jnp.maximum, stats["max"], metrics),
                          stats["max"]),
             "nonfinite": where((first_bad == 0) & ~finite, metrics, stats["nonfinite"])}
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
  finite_steps = num_steps - num_bad
  none = lambda x: jnp.where(finite_steps > 0, x, jnp.nan)
  mean = jax.tree.map(lambda x: none(x / jnp.maximum(finite_steps, 1)), stats["sum"])
  return state, dict(mean, min=jax.tree.map(none, stats["min"]),
                     max=jax.tree.map(none, stats["max"]), nonfinite=stats["nonfinite"],
                     finite_steps=finite_steps, nonfinite_step=first_bad,
                     nonfinite_count=num_bad)


def compiler_options() -> dict[str, str]:
  """XLA options the training step is compiled with on this backend.

  On CPU, convolutions run on Eigen rather than YNNPACK (matrix multiplies
  stay on YNNPACK): the DCGAN-32 step took 0.90-0.93 of the time, measured
  in one process (see `benchmarks/`); its kernel gradients ran ~1.5x faster.
  Reductions (BatchNorm's statistics and their gradients) stay on YNNPACK,
  as by default: XLA's own are reduce-windows, 4x slower (0.48 ms vs 0.11 ms
  for the channel sums of 64x8x8x128; the step: 0.94 of the time).
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
      logging.warning("Compiling the step without the XLA options %s, which this "
                      "jaxlib does not take (%s).", self._options, e)
      self._options = {}
      return lowered.compile()

  def __call__(self, *args):
    if jax.process_count() > 1:
      # A compiled pmap takes global arrays; the trainer passes each
      # process's shards, which only the pmapped function assembles.
      return self._pmapped(*args)
    return self.compile(*args)(*args)


def make_train_step(generator, discriminator, config: Any, num_devices: int):
  """Binds the fixed parts of the step and pmaps `train_steps`, donating the
  state: `p_step(state, batches, rng, data=None) -> (state, metrics)`, a
  `CompiledStep` compiled with `compiler_options()`.
  `config.train.skip_nonfinite` picks what a non-finite step does."""
  step_fn = functools.partial(
      train_step, generator=generator, discriminator=discriminator,
      objective=Objective.from_config(config.loss), num_devices=num_devices,
      latent_dim=config.model.latent_dim, ema_decay=config.train.ema_decay)
  pmapped = jax.pmap(functools.partial(
      train_steps, step_fn=step_fn,
      skip_nonfinite=bool(config.train.get("skip_nonfinite", False))),
                     axis_name=AXIS, donate_argnums=(0,))
  return CompiledStep(pmapped, compiler_options())
