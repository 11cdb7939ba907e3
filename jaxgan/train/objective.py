"""What the two players minimise: the adversarial pair plus registered terms.

A term is one extra piece of a player's loss: a penalty on D (WGAN-GP, R1,
R2, DRAGAN), a supervised loss (AC-GAN's classifier, the semi-supervised
cross-entropy), or a loss of G beside the adversarial one (feature matching,
L1/L2 to a paired target, perceptual). Each is declared once, below, as a
`Term` registered by name, with

- the player(s) it acts on: a function for D's loss (`d`), G's (`g`), or both;
- what it needs from the step (`needs`, a subset of `NEEDS`), from which the
  config is validated (a term that needs labels is refused for an
  unconditional model) and the step decides what to compute (D's features);
- its weight `loss.<name>_weight` and default (0: off), its other config keys
  (`options`), whether a sweep may vary the weight per member (`vectorisable`);
- optionally a state it keeps across steps (`init_state`), which lives in
  `GANState.terms[name]`, is checkpointed with the rest and reaches the term
  as `inputs.state` (the term returns the new one).

The config defaults (`config_defaults`, used by configs/common.py), config
validation (`check_config`), the sweep's vectorisable keys
(`vectorisable_keys`) and the table of docs/losses.md (`markdown_table`) are
all derived from this registry. Adding a term is one `register(Term(...))`
here plus its test.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax
from absl import logging
from jax import lax

from jaxgan import augment, losses
from jaxgan.train import augmentation
from jaxgan.train import schedules as schedules_lib

AXIS = "batch"  # the step's pmap axis (jaxgan.train.step.AXIS)

# What a term may need from the step:
NEEDS = {
    "real": "the real batch",
    "fake": "the generated batch",
    "cond": "G's and D's condition (a label or a paired input image)",
    "label": "class labels (a class-conditional model: set config.model.num_classes)",
    "class_logits": "D's class logits (a classifying discriminator)",
    "features": "D's last hidden features ('features' in 'intermediates')",
    "labeled": "the labelled batch of a semi-supervised run (a K+1-class discriminator)",
    "target": "the paired target image (an image-to-image model and config.data.pairs)",
    "critic": "D as a function of its input, for gradient penalties",
    "params": "G's parameters (a term on G's weights themselves)",
    "generator": "G run again on fresh latents (a style-based G: its `styles` and "
                 "`synthesize` methods, jaxgan.models.TRUNCATIONS 'w')",
}
# Model kinds (jaxgan.models) that provide what a need names.
_NEED_KINDS = {"label": ("class_conditional",), "labeled": ("semi_supervised",),
               "target": ("paired",)}


@dataclasses.dataclass(frozen=True)
class DInputs:
  """What a discriminator term sees in one D update (this device's slice).

  Attributes:
    real, fake: the real batch and the generated one (no gradient to G).
    cond: the condition of both batches, or None.
    label: class labels of a class-conditional run, or None.
    labeled: {'image', 'label'} of a semi-supervised run, or None.
    real_out, fake_out: D's outputs on them, as `Outputs`.
    critic: `x -> logits` with D's parameters, the batch statistics before
      this update, the batch's condition (the gradient penalties' D).
    discriminate: `(x, cond, key, batch_stats) -> (Outputs, batch_stats)`
      with D's parameters being differentiated.
    batch_stats: D's batch statistics after the real and fake passes.
    key: this update's key; a term draws from `fold_in(key, <its constant>)`.
    global_batch, local_batch: the batch size over all devices and here.
    state: the term's state (see `Term.init_state`), or None.
    step: the training step (int32, traced).
    update: D's update count, step * n_critic + the update's index in the
      step (the clock of a lazy term).
    real_key, fake_key: the keys D's passes on real and fake ran with (a
      term that runs D again on a transformed batch reuses them, so that any
      augmentation of D's inputs is the same, see `jaxgan.augment`).
  """
  real: jax.Array
  fake: jax.Array
  cond: Any
  label: Any
  labeled: Any
  real_out: Outputs
  fake_out: Outputs
  critic: Callable[[jax.Array], jax.Array]
  discriminate: Callable
  batch_stats: Any
  key: jax.Array
  global_batch: int
  local_batch: int
  state: Any = None
  step: Any = None
  update: Any = None
  real_key: Any = None
  fake_key: Any = None

  def local_slice(self, x: jax.Array) -> jax.Array:
    """This device's rows of an array drawn for the global batch, so that
    random numbers do not depend on the device count."""
    start = lax.axis_index(AXIS) * self.local_batch
    return lax.dynamic_slice_in_dim(x, start, self.local_batch)


@dataclasses.dataclass(frozen=True)
class GInputs:
  """What a generator term sees in the G update (this device's slice).

  Attributes:
    fake: G's output (differentiated).
    real: the real batch (for paired data: the target of each fake).
    cond, label: as in `DInputs`.
    fake_out, real_out: D's outputs (after its update) on them, with
      'features' when a term needs them; real_out is not differentiated.
    key: the G update's key.
    state: the term's state, or None.
    step: the training step (int32, traced); also a lazy G term's clock.
    params: G's parameters (differentiated: a term's gradient with respect
      to them is added to G's gradient), or None.
    generator: `(params, *args, method=, key=) -> output`: G's `method`
      applied in training mode with `params` (G's batch statistics and
      rng stream 'dropout' from `key`), for a term that runs G again.
    latents: `(key, global_n) -> z`: this device's rows of latents drawn
      for a global batch of global_n (as the step draws G's).
  """
  fake: jax.Array
  real: jax.Array
  cond: Any
  label: Any
  fake_out: Outputs
  real_out: Outputs
  key: jax.Array
  state: Any = None
  step: Any = None
  params: Any = None
  generator: Any = None
  latents: Any = None

  @property
  def update(self):
    return self.step


@dataclasses.dataclass(frozen=True)
class Outputs:
  """A discriminator's outputs on one batch: logits, class logits (AC-GAN,
  the semi-supervised D) and last hidden features, or None."""
  logits: jax.Array
  class_logits: jax.Array | None = None
  features: jax.Array | None = None


@dataclasses.dataclass(frozen=True)
class Result:
  """A term's value (unweighted), the metrics it logs, and optionally D's new
  batch statistics (a term that runs D on another batch) and its new state."""
  value: jax.Array
  metrics: dict
  batch_stats: Any = None
  state: Any = None


@dataclasses.dataclass(frozen=True)
class Term:
  """A registered loss term; see the module docstring.

  Attributes:
    name: the registry name; its weight is `config.loss.<name>_weight`.
    doc: one line for docs/losses.md: what the term is and its paper.
    formula: the term as written in docs/losses.md.
    d, g: `fn(inputs, resource) -> Result` for D's and G's loss (None: the
      term does not act on that player).
    needs: keys of `NEEDS`.
    default: the weight's default.
    options: other `config.loss` keys the term reads, with defaults.
    vectorisable: whether a sweep may train members with different weights
      in one program (the weight is then a traced value).
    prepare: `fn(config.loss) -> resource` built once when the step is made
      (e.g. the perceptual loss's feature network); None: no resource.
    check: `fn(config)` raising ValueError for a config the term cannot use.
    init_state: `fn() -> pytree`, the term's state at step 0 (None: none).
    lazy: whether the term may be computed only every k-th update (lazy
      regularization, Karras et al. 2020, StyleGAN2 §4): it then has the
      option `<name>_every` (k, default 1), and on every k-th update adds k
      times its value (equal to the eager term in expectation), nothing on
      the others.
  """
  name: str
  doc: str
  formula: str
  d: Callable[[DInputs, Any], Result] | None = None
  g: Callable[[GInputs, Any], Result] | None = None
  needs: frozenset = frozenset()
  default: float = 0.0
  options: dict = dataclasses.field(default_factory=dict)
  vectorisable: bool = True
  prepare: Callable[[Any], Any] | None = None
  check: Callable[[Any], None] | None = None
  init_state: Callable[[], Any] | None = None
  lazy: bool = False

  @property
  def key(self) -> str:
    return f"{self.name}_weight"

  @property
  def every_key(self) -> str | None:
    return f"{self.name}_every" if self.lazy else None

  @property
  def players(self) -> str:
    return "+".join(p for p, fn in (("D", self.d), ("G", self.g)) if fn is not None)


_TERMS: dict[str, Term] = {}


def register(term: Term) -> Term:
  """Adds `term` to the registry (in order: terms are added to a player's
  loss in registration order)."""
  if term.name in _TERMS:
    raise ValueError(f"A term named {term.name!r} is already registered.")
  unknown = set(term.needs) - set(NEEDS)
  if unknown:
    raise ValueError(f"Term {term.name!r} needs unknown inputs {sorted(unknown)}; "
                     f"valid: {', '.join(NEEDS)}.")
  if term.d is None and term.g is None:
    raise ValueError(f"Term {term.name!r} acts on neither player: give d or g.")
  _TERMS[term.name] = term
  return term


def unregister(name: str) -> None:
  """Removes a term (for tests that register their own)."""
  del _TERMS[name]


def terms() -> tuple[Term, ...]:
  return tuple(_TERMS.values())


def get(name: str) -> Term:
  if name not in _TERMS:
    raise ValueError(f"Unknown loss term {name!r}; valid: {', '.join(_TERMS)}.")
  return _TERMS[name]


# -- Derived from the registry -------------------------------------------------

# Options of the adversarial core (not terms): `adv_weight` scales G's
# adversarial loss (SRGAN: 1e-3; 0 with feature matching alone, as in
# 'Improved Techniques'); `label_smoothing` is one-sided label smoothing.
# `schedules`: schedules of the weights, e.g. "r1_weight=cosine:0.0025" (see
# jaxgan.train.schedules). The augmentation of every image D sees (its
# options: jaxgan.augment.config_defaults) is part of what D minimises on, so
# it is configured here too.
CORE_DEFAULTS = {"adv_weight": 1.0, "label_smoothing": 0.0, "schedules": ""}
_SMOOTHED = ("minimax", "non_saturating", "relativistic_average")


def config_defaults() -> dict:
  """Every `config.loss` key but `name`, with its default: the core's, each
  term's weight and each term's options."""
  out = dict(CORE_DEFAULTS)
  out.update(augmentation.config_defaults())
  for term in _TERMS.values():
    out[term.key] = term.default
    if term.lazy:
      out[term.every_key] = 1
    out.update(term.options)
  return out


def schedulable_keys() -> tuple[str, ...]:
  """`config.loss` keys that `config.loss.schedules` may name."""
  return ("adv_weight",) + tuple(t.key for t in _TERMS.values()) + augmentation.SCHEDULABLE


def vectorisable_keys() -> tuple[str, ...]:
  """`config.loss` keys a vectorised sweep may vary per member."""
  return ("adv_weight",) + tuple(t.key for t in _TERMS.values() if t.vectorisable)


def _weight(config_loss: Any, term: Term) -> float:
  return float(config_loss.get(term.key, term.default))


def check_config(config: Any, model_kind: str) -> None:
  """Rejects a `config.loss` that cannot work with a model of `model_kind`
  (see `jaxgan.models`): unknown keys, negative weights, a term whose needs
  the model does not provide, and each active term's own check."""
  loss = config.loss
  known = {"name"} | set(config_defaults())
  unknown = sorted(set(loss) - known)
  if unknown:
    raise ValueError(f"Unknown config.loss keys {unknown}; valid: {', '.join(sorted(known))}.")
  if loss.name not in losses.names():
    raise ValueError(f"Unknown loss {loss.name!r} (config.loss.name); valid "
                     f"names: {', '.join(losses.names())}.")
  if loss.get("adv_weight", 1.0) < 0:
    raise ValueError(f"config.loss.adv_weight must be >= 0, got {loss.adv_weight}.")
  smoothing = loss.get("label_smoothing", 0.0)
  if smoothing:
    if loss.name not in _SMOOTHED:
      raise ValueError(f"config.loss.label_smoothing applies to the losses "
                       f"{', '.join(_SMOOTHED)}, not {loss.name!r}.")
    if not 0 <= smoothing < 1:
      raise ValueError(f"config.loss.label_smoothing must be in [0, 1), got {smoothing}.")
  scheduled = schedules_lib.parse(loss.get("schedules", ""), schedulable_keys(), "loss")
  augmentation.check_config(config)
  if "augment_p" in scheduled and not loss.get("augment", ""):
    raise ValueError("config.loss.schedules schedules augment_p, but config.loss.augment "
                     "is off; set config.loss.augment='ada' (with augment_target=0 for a "
                     "scheduled p).")
  for term in _TERMS.values():
    _check_every(loss, term)
    weight = _weight(loss, term)
    if weight < 0:
      raise ValueError(f"config.loss.{term.key} must be >= 0, got {weight}.")
    if weight == 0:
      continue
    for need in term.needs:
      kinds = _NEED_KINDS.get(need)
      if kinds and model_kind not in kinds:
        raise ValueError(
            f"config.loss.{term.key} > 0 needs {NEEDS[need]}, but config.model "
            f"({config.model.name!r}) is {model_kind.replace('_', '-')}; use a "
            f"{' or '.join(k.replace('_', '-') for k in kinds)} model or set "
            f"config.loss.{term.key}=0.")
    if term.check is not None:
      term.check(config)


def _check_every(loss: Any, term: Term) -> None:
  if not term.lazy:
    return
  every = loss.get(term.every_key, 1)
  if isinstance(every, bool) or not float(every).is_integer() or every < 1:
    raise ValueError(f"config.loss.{term.every_key} (lazy regularization: compute "
                     f"{term.name} every k-th update) must be an integer >= 1, got {every}.")


def markdown_table() -> str:
  """The table of terms in docs/losses.md."""
  rows = ["| `config.loss.` key | acts on | term | needs | sweep per member |",
          "|---|---|---|---|---|"]
  for t in _TERMS.values():
    options = "".join(f", `{k}`" for k in ([t.every_key] if t.lazy else []) + list(t.options))
    formula = t.formula.replace("|", "\\|")
    rows.append(f"| `{t.key}`{options} | {t.players} | {t.doc}: `{formula}` | "
                f"{', '.join(sorted(t.needs)) or '-'} | "
                f"{'yes' if t.vectorisable else 'no'} |")
  return "\n".join(rows)


# -- The objective -------------------------------------------------------------

def is_on(weight: Any) -> bool:
  """Whether a weighted term is computed: a weight > 0, or a traced weight (a
  sweep's per-member value), whose term is computed for every member and
  contributes 0 * term where the member's weight is 0."""
  return isinstance(weight, jax.Array) or weight > 0


@dataclasses.dataclass(frozen=True)
class Objective:
  """What the two players minimise: the adversarial pair and the terms.

  Attributes:
    loss: the (d_loss, g_loss) pair, each `fn(real_logits, fake_logits)`.
    adv_weight: weight of G's adversarial loss.
    weights: term name -> weight, for every registered term (floats, or
      traced per-member arrays in a vectorised sweep).
    resources: term name -> what its `prepare` built, for active terms.
    every: term name -> k for the lazy terms computed every k-th update.
    schedules: `config.loss` key -> its `schedules.Schedule` (weights, p).
    num_steps: the run's length, the default span of a schedule.
    augment: the augmentation of D's inputs (`augmentation.Augmentation`), or None.
    config_loss: the `config.loss` it was made from (a term that a sweep's
      traced weight turns on is prepared from it), or None.
  """
  loss: losses.GANLoss
  adv_weight: Any = 1.0
  weights: dict = dataclasses.field(default_factory=dict)
  resources: dict = dataclasses.field(default_factory=dict)
  every: dict = dataclasses.field(default_factory=dict)
  schedules: dict = dataclasses.field(default_factory=dict)
  num_steps: int = 0
  augment: Any = None
  config_loss: Any = None

  @classmethod
  def from_config(cls, config_loss: Any, num_steps: int = 0) -> Objective:
    """From `config.loss` (missing keys take the defaults) for a run of
    `num_steps` steps."""
    pair = losses.get(config_loss.name)
    smoothing = float(config_loss.get("label_smoothing", 0.0))
    if smoothing:
      pair = pair._replace(d_loss=functools.partial(pair.d_loss,
                                                    label_smoothing=smoothing))
    weights = {t.name: _weight(config_loss, t) for t in _TERMS.values()}
    resources = {t.name: t.prepare(config_loss) for t in _TERMS.values()
                 if t.prepare is not None and weights[t.name] > 0}
    every = {t.name: int(config_loss.get(t.every_key, 1)) for t in _TERMS.values()
             if t.lazy and int(config_loss.get(t.every_key, 1)) > 1}
    scheduled = schedules_lib.parse(config_loss.get("schedules", ""), schedulable_keys(),
                                    "loss")
    return cls(loss=pair, adv_weight=float(config_loss.get("adv_weight", 1.0)),
               weights=weights, resources=resources, every=every, schedules=scheduled,
               num_steps=num_steps, augment=augmentation.from_config(config_loss),
               config_loss=config_loss)

  def scheduled(self, key: str, base: Any, step: Any) -> Any:
    """`config.loss.<key>` (whose value is `base`) at training step `step`."""
    if key not in self.schedules:
      return base
    return self.schedules[key].value(base, step, self.num_steps)

  def augment_p(self, terms: dict, step: Any) -> Any:
    """The augmentation probability at this step: ADA's adapted p, else
    `augment_p` or its schedule."""
    if self.augment is None:
      return None
    if self.augment.adaptive:
      return terms[augmentation.STATE_KEY]["p"]
    return self.scheduled("augment_p", self.augment.fixed_p, step)

  def with_weights(self, weights: dict) -> Objective:
    """The objective with some weights replaced: `{'adv_weight': w}` or
    `{'<term>_weight': w}` (the config keys), as a sweep passes them."""
    weights = dict(weights)
    adv = weights.pop("adv_weight", self.adv_weight)
    by_name = {**self.weights, **{k.removesuffix("_weight"): v for k, v in weights.items()}}
    # A term off in the base config but on for some member needs its resource
    # (its options, a network), prepared as `from_config` prepares the others.
    resources = dict(self.resources) | {
        t.name: t.prepare(self.config_loss) for t in _TERMS.values()
        if t.prepare is not None and t.name not in self.resources
        and is_on(by_name.get(t.name, 0.0)) and self.config_loss is not None}
    return dataclasses.replace(self, adv_weight=adv, weights=by_name, resources=resources)

  def active(self, player: str) -> tuple[Term, ...]:
    """The terms acting on `player` ('d' or 'g') that are computed."""
    return tuple(t for t in _TERMS.values()
                 if getattr(t, player) is not None and is_on(self.weights.get(t.name, 0.0)))

  def needs(self, need: str, player: str) -> bool:
    return any(need in t.needs for t in self.active(player))

  def add_terms(self, player: str, loss: jax.Array, inputs, states: dict
                ) -> tuple[jax.Array, dict, Any, dict]:
    """`loss` plus each active term of `player`, weighted; returns the total,
    the terms' metrics, D's batch statistics (as the last term that ran D on
    another batch left them; for D only) and the terms' new states."""
    metrics, stats, states = {}, getattr(inputs, "batch_stats", None), dict(states)
    for term in self.active(player):
      if player == "d":
        inputs = dataclasses.replace(inputs, batch_stats=stats)
      result = self._run(term, player, dataclasses.replace(inputs, state=states.get(term.name)))
      metrics.update(result.metrics)
      weight = self.scheduled(term.key, self.weights[term.name], inputs.step)
      loss = loss + weight * result.value
      if result.batch_stats is not None:
        stats = result.batch_stats
      if result.state is not None:
        states[term.name] = result.state
    return loss, metrics, stats, states

  def _run(self, term: Term, player: str, inputs) -> Result:
    """The term's result; a lazy one's k * result on every k-th update
    (counted by `inputs.update`) and zeros, the batch statistics and the
    state it was given on the others."""
    fn = lambda: getattr(term, player)(inputs, self.resources.get(term.name))
    k = self.every.get(term.name, 1)
    if k == 1:
      return fn()
    def on(_):
      r = fn()
      scale = lambda tree: jax.tree.map(lambda x: k * x, tree)
      return r.value * k, scale(r.metrics), r.batch_stats, r.state
    shapes = jax.eval_shape(on, None)
    def off(_):
      zeros = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), shapes[:2])
      return (*zeros, _like(shapes[2], getattr(inputs, "batch_stats", None)),
              _like(shapes[3], inputs.state))
    value, metrics, stats, state = lax.cond(inputs.update % k == 0, on, off, None)
    return Result(value, metrics, stats, state)


def _like(shapes: Any, given: Any) -> Any:
  """What a skipped lazy term returns for an output of `shapes`: None where
  the term returns None, else what it was given."""
  return None if shapes is None else given


def initial_states(config_loss: Any = None) -> dict:
  """The terms' states at step 0 (`GANState.terms`), and the augmentation's
  (ADA's p starts at `config.loss.augment_p`)."""
  states = {t.name: t.init_state() for t in _TERMS.values() if t.init_state is not None}
  states[augmentation.STATE_KEY] = augmentation.initial_state(config_loss)
  return states


# -- The terms -----------------------------------------------------------------

def _class_loss(class_logits: jax.Array, labels: jax.Array) -> jax.Array:
  return optax.softmax_cross_entropy_with_integer_labels(class_logits, labels).mean()


def _accuracy(class_logits: jax.Array, labels: jax.Array) -> jax.Array:
  return jnp.mean(jnp.argmax(class_logits, -1) == labels)


def _global_mean(x: jax.Array) -> jax.Array:
  """The mean over the global batch of per-example features (B, ...)."""
  return lax.pmean(jnp.mean(x.astype(jnp.float32), axis=0), AXIS)


def _warn_batch_norm(config: Any) -> None:
  """Gradient penalties are per example; BatchNorm in D mixes examples."""
  from jaxgan import models  # pylint: disable=g-import-not-at-top
  if models.discriminator_norm(config.model) == "batch":
    logging.warning(
        "The gradient penalty is per-example, but the discriminator uses BatchNorm, "
        "which mixes examples; set config.model.d_norm='none' (as WGAN-GP's MNIST "
        "and CIFAR-10 code) or 'layer' (as its paper recommends).")


def _gp(inputs: DInputs, target: float) -> Result:
  alpha_key = jax.random.split(inputs.key, 3)[0]
  alpha = inputs.local_slice(jax.random.uniform(alpha_key, (inputs.global_batch,)))
  penalty = losses.gradient_penalty(inputs.critic, inputs.real, inputs.fake, alpha=alpha,
                                    target=target)
  return Result(penalty, {"gradient_penalty": penalty})


def _check_gp(config: Any) -> None:
  if not config.loss.get("gp_target", 1.0) > 0:
    raise ValueError(f"config.loss.gp_target (the gradient norm the penalty pulls "
                     f"toward) must be positive, got {config.loss.gp_target}.")
  _warn_batch_norm(config)


register(Term(
    "gp", "WGAN-GP gradient penalty on real/fake interpolates (Gulrajani et al. 2017); "
    "option: the target norm K (1; another K changes the critic's Lipschitz constant, "
    "or its units: see configs/wgan_gp.py)",
    "E[(‖∇D(x̂)‖ - K)²]", d=_gp, needs=frozenset({"real", "fake", "critic"}),
    options={"gp_target": 1.0}, prepare=lambda config_loss: float(
        config_loss.get("gp_target", 1.0)),
    check=_check_gp, lazy=True))


def _r1(inputs: DInputs, _) -> Result:
  penalty = losses.r1_penalty(inputs.critic, inputs.real)
  return Result(penalty, {"r1_penalty": penalty})


register(Term(
    "r1", "R1: D's squared gradient norm on real data (Mescheder et al. 2018); "
    "the paper's γ/2 is the weight", "E_r[‖∇D(x)‖²]", d=_r1,
    needs=frozenset({"real", "critic"}), check=_warn_batch_norm, lazy=True))


def _r2(inputs: DInputs, _) -> Result:
  penalty = losses.r2_penalty(inputs.critic, inputs.fake)
  return Result(penalty, {"r2_penalty": penalty})


register(Term(
    "r2", "R2: D's squared gradient norm on generated data (Mescheder et al. 2018)",
    "E_f[‖∇D(x̃)‖²]", d=_r2, needs=frozenset({"fake", "critic"}),
    check=_warn_batch_norm, lazy=True))


def _dragan(inputs: DInputs, _) -> Result:
  penalty = losses.dragan_penalty(inputs.critic, inputs.real,
                                  jax.random.fold_in(inputs.key, 4))
  return Result(penalty, {"dragan_penalty": penalty})


register(Term(
    "dragan", "DRAGAN: gradient penalty around perturbed real data (Kodali et al. 2017)",
    "E[(‖∇D(x + δ)‖ - 1)²]", d=_dragan, needs=frozenset({"real", "critic"}),
    check=_warn_batch_norm, lazy=True))


def _lecam(inputs: DInputs, config_loss: Any) -> Result:
  """LeCam: D's outputs pulled toward anchors, the EMAs of its mean output on
  the other kind of data; the anchors are updated first, with no gradient,
  as google/lecam-gan does (biggan_cifar/losses.py `loss_hinge_dis` updates
  `ema` before train_fns calls `lecam_reg`)."""
  state, decay = inputs.state, config_loss.get("lecam_decay", 0.99)
  # third_party/utils.py `ema_losses.update`: no averaging before start_itr.
  decay = jnp.where(inputs.step < config_loss.get("lecam_start", 1000), 0.0, decay)
  mean = lambda out: lax.stop_gradient(_global_mean(out.logits.reshape(-1)))
  real = decay * state["real"] + (1 - decay) * mean(inputs.real_out)
  fake = decay * state["fake"] + (1 - decay) * mean(inputs.fake_out)
  penalty = (jnp.mean(jnp.square(jax.nn.relu(inputs.real_out.logits - fake)))
             + jnp.mean(jnp.square(jax.nn.relu(real - inputs.fake_out.logits))))
  return Result(penalty, {"lecam_penalty": penalty, "lecam_real_anchor": real,
                          "lecam_fake_anchor": fake}, state={"real": real, "fake": fake})


register(Term(
    "lecam", "LeCam regularization: D's outputs on real (fake) data pulled below "
    "(above) the EMA of its outputs on fake (real) data (Tseng et al. 2021; "
    "google/lecam-gan); options: the EMA's decay and the step it starts at",
    "E_r[relu(D(x) - α_F)²] + E_f[relu(α_R - D(G(z)))²]", d=_lecam,
    needs=frozenset({"real", "fake"}), options={"lecam_decay": 0.99, "lecam_start": 1000},
    prepare=lambda config_loss: config_loss,
    init_state=lambda: {"real": jnp.zeros((), jnp.float32),
                        "fake": jnp.zeros((), jnp.float32)}))


def _consistency_transform(x: jax.Array, key: jax.Array, inputs: DInputs) -> jax.Array:
  """bCR's T: a random horizontal flip and a shift by up to 1/8 of the image
  (zero fill), each example its own (drawn for the global batch)."""
  keys = inputs.local_slice(jax.random.split(key, inputs.global_batch))

  def one(xi, ki):
    flip_key, shift_key = jax.random.split(ki)
    xi = jnp.where(jax.random.bernoulli(flip_key), xi[:, ::-1], xi)
    return augment.translation(xi[None], shift_key, 0.125)[0]

  return jax.vmap(one)(x, keys)


def _bcr(inputs: DInputs, _) -> Result:
  """bCR: D's output on each real and each fake image and on its transform
  T(x) pulled together; T(x) is seen through the same D-input augmentation
  (the same keys) as x."""
  real_key, fake_key = jax.random.split(jax.random.fold_in(inputs.key, 6))
  real_t, stats = inputs.discriminate(_consistency_transform(inputs.real, real_key, inputs),
                                      inputs.cond, inputs.real_key, inputs.batch_stats)
  fake_t, stats = inputs.discriminate(_consistency_transform(inputs.fake, fake_key, inputs),
                                      inputs.cond, inputs.fake_key, stats)
  real = jnp.mean(jnp.square(inputs.real_out.logits - real_t.logits))
  fake = jnp.mean(jnp.square(inputs.fake_out.logits - fake_t.logits))
  return Result(real + fake, {"bcr_real": real, "bcr_fake": fake}, batch_stats=stats)


register(Term(
    "bcr", "balanced consistency regularization, λ_real = λ_fake (Zhao et al. 2021); "
    "T: random x-flip and translation by up to 1/8", "E_r[(D(x) - D(T(x)))²] + "
    "E_f[(D(G(z)) - D(T(G(z))))²]", d=_bcr, needs=frozenset({"real", "fake"}),
    check=lambda config: _images_only(config, "bcr_weight")))


def _images_only(config: Any, key: str) -> None:
  if config.data.source == "toy":
    raise ValueError(f"config.loss.{key} > 0 transforms images, but config.data is toy "
                     f"2-D points; set config.loss.{key}=0.")


def _feature_matching(inputs: GInputs, _) -> Result:
  loss = losses.feature_matching_loss(
      lax.stop_gradient(_global_mean(inputs.real_out.features))[None],
      _global_mean(inputs.fake_out.features)[None])
  return Result(loss, {"g_feature_matching_loss": loss})


register(Term(
    "feature_matching", "feature matching on D's last hidden features "
    "(Salimans et al. 2016)", "‖E_r[φ(x)] - E_f[φ(G(z))]‖²", g=_feature_matching,
    needs=frozenset({"real", "fake", "features"})))


def _aux_class_d(inputs: DInputs, _) -> Result:
  real_class, fake_class = inputs.real_out.class_logits, inputs.fake_out.class_logits
  loss = _class_loss(real_class, inputs.label) + _class_loss(fake_class, inputs.label)
  return Result(loss, {"d_class_loss": loss,
                       "d_real_class_accuracy": _accuracy(real_class, inputs.label)})


def _aux_class_g(inputs: GInputs, _) -> Result:
  loss = _class_loss(inputs.fake_out.class_logits, inputs.label)
  return Result(loss, {"g_class_loss": loss})


register(Term(
    "aux_class", "AC-GAN auxiliary classifier cross-entropy, D on real and fake, "
    "G on fake (Odena et al. 2017)", "CE(c(x), y) + CE(c(G(z, y)), y)",
    d=_aux_class_d, g=_aux_class_g, needs=frozenset({"label", "class_logits"})))


def _semi_supervised(inputs: DInputs, _) -> Result:
  labeled = inputs.labeled
  out, stats = inputs.discriminate(labeled["image"], None,
                                   jax.random.fold_in(inputs.key, 3), inputs.batch_stats)
  loss = _class_loss(out.class_logits, labeled["label"])
  return Result(loss, {"d_supervised_loss": loss,
                       "d_labeled_accuracy": _accuracy(out.class_logits, labeled["label"])},
                batch_stats=stats)


def _check_semi_supervised(config: Any) -> None:
  num_labeled, k = config.data.get("num_labeled", 0), config.model.get("d_classes", 0)
  if num_labeled <= 0 or num_labeled % k:
    raise ValueError(f"config.data.num_labeled must be a positive multiple of "
                     f"config.model.d_classes={k} (the same number per class), got "
                     f"{num_labeled}.")
  labeled_batch = config.train.get("labeled_batch_size", 0)
  if labeled_batch <= 0 or labeled_batch % jax.device_count():
    raise ValueError(f"config.train.labeled_batch_size must be a positive multiple "
                     f"of the {jax.device_count()} devices, got {labeled_batch}.")


register(Term(
    "semi_supervised", "D's K-class cross-entropy on the labelled batch, the "
    "semi-supervised GAN of Salimans et al. 2016", "CE(D(x_l), y_l)", d=_semi_supervised,
    needs=frozenset({"labeled", "class_logits"}), check=_check_semi_supervised))


def _l1(inputs: GInputs, _) -> Result:
  loss = jnp.mean(jnp.abs(inputs.fake - inputs.real))
  return Result(loss, {"g_l1_loss": loss})


register(Term(
    "l1", "L1 distance to the paired target (pix2pix: 100, Isola et al. 2017)",
    "E[|G(x) - y|]", g=_l1, needs=frozenset({"fake", "target"})))


def _l2(inputs: GInputs, _) -> Result:
  loss = jnp.mean(jnp.square(inputs.fake - inputs.real))
  return Result(loss, {"g_l2_loss": loss})


register(Term(
    "l2", "squared distance to the paired target (SRGAN's pixel MSE, Ledig et al. 2017)",
    "E[(G(x) - y)²]", g=_l2, needs=frozenset({"fake", "target"})))


def _perceptual(inputs: GInputs, features: Callable) -> Result:
  target = lax.stop_gradient(features(inputs.real))
  loss = jnp.mean(jnp.square(features(inputs.fake) - target))
  return Result(loss, {"g_perceptual_loss": loss})


def _check_perceptual(config_loss: Any) -> None:
  if not config_loss.get("vgg_weights", ""):
    raise ValueError("config.loss.perceptual_weight > 0 needs config.loss.vgg_weights: "
                     "the path of torchvision's VGG19 state dict (see jaxgan.models.vgg).")


def _vgg_features(config_loss: Any) -> Callable:
  _check_perceptual(config_loss)
  from jaxgan.models import vgg  # pylint: disable=g-import-not-at-top
  return vgg.feature_fn(config_loss.vgg_weights, config_loss.get("vgg_layer", "relu5_4"))


register(Term(
    "perceptual", "squared distance of VGG19 features to the paired target's "
    "(SRGAN's content loss, Ledig et al. 2017)", "E[(φ(G(x)) - φ(y))²]",
    g=_perceptual, needs=frozenset({"fake", "target"}),
    options={"vgg_weights": "", "vgg_layer": "relu5_4"}, vectorisable=False,
    prepare=_vgg_features, check=lambda config: _check_perceptual(config.loss)))


def _ortho_matrices(params: Any, exclude: tuple[str, ...]) -> list[jax.Array]:
  """G's weights as torch's `param.view(param.shape[0], -1)` (rows: output
  units), for BigGAN-PyTorch's utils.py `ortho`: every parameter with at
  least 2 axes, except those under a module named in `exclude`. Flax keeps
  a 'kernel' as (..., in, out), torch as (out, in, ...): its rows are the
  kernel's last axis; an 'embedding' (rows, features) is torch's as it is."""
  out = []
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    names = [getattr(k, "key", str(k)) for k in path]
    if leaf.ndim < 2 or any(name in exclude for name in names[:-1]):
      continue
    if names[-1] == "kernel":
      out.append(leaf.reshape(-1, leaf.shape[-1]).T)
    else:
      out.append(leaf.reshape(leaf.shape[0], -1))
  return out


def ortho_penalty(params: Any, exclude: tuple[str, ...] = ()) -> jax.Array:
  """BigGAN's orthogonal regularization of G's weights (Brock et al. 2019,
  Sec. 3.1), as BigGAN-PyTorch's utils.py `ortho` applies it: for each
  weight W (out, -1), 1/2 ||W W^T ⊙ (1 - I)||_F^2, summed. `ortho` adds the
  gradient 2 ((W W^T) ⊙ (1 - I)) W times the strength directly, which is the
  gradient of this (1/2: the paper's R_β without it has twice that gradient),
  so weight β here is the reference's `G_ortho` strength β."""
  total = jnp.zeros((), jnp.float32)
  for w in _ortho_matrices(params, exclude):
    w = w.astype(jnp.float32)
    gram = w @ w.T
    total = total + 0.5 * jnp.sum(jnp.square(gram * (1.0 - jnp.eye(w.shape[0]))))
  return total


def _ortho(inputs: GInputs, config_loss: Any) -> Result:
  exclude = tuple(n.strip() for n in config_loss.get("ortho_exclude", "shared").split(",")
                  if n.strip())
  penalty = ortho_penalty(inputs.params, exclude)
  return Result(penalty, {"g_ortho_penalty": penalty})


register(Term(
    "ortho", "BigGAN's orthogonal regularization of G's weights (W: (out, -1), "
    "Brock et al. 2019; BigGAN-PyTorch utils.ortho, strength β = the weight, "
    "1e-4 in the paper); option: G's modules left out (comma-separated; the "
    "shared class embedding)", "Σ_W ½‖WWᵀ ⊙ (1 - I)‖²_F", g=_ortho,
    needs=frozenset({"params"}), options={"ortho_exclude": "shared"},
    prepare=lambda config_loss: config_loss))


def path_lengths(styles: Callable, synthesize: Callable, z: jax.Array, cond: Any,
                 key: jax.Array) -> jax.Array:
  """StyleGAN2's path lengths (Karras et al. 2020, Sec. 5; loss.py
  `accumulate_gradients`, Gpl): for ws = styles(z, cond) and images
  x = synthesize(ws) (N, H, W, C), with y ~ N(0, I) / sqrt(H W), the
  length of J_w^T y = grad_ws sum(x * y), as sqrt(mean over the num_ws
  copies of sum over w's features of its square); y is drawn for the
  global batch over AXIS and sliced like z. Returns (N,)."""
  from jaxgan.models import layers  # pylint: disable=g-import-not-at-top
  ws = styles(z, cond)
  images, vjp = jax.vjp(synthesize, ws)
  _, h, w, _ = images.shape
  y = layers.global_normal(key, images.shape, AXIS, images.dtype) / jnp.sqrt(h * w)
  (grads,) = vjp(y)
  return jnp.sqrt(jnp.mean(jnp.sum(jnp.square(grads), axis=2), axis=1))


def _path_length(inputs: GInputs, config_loss: Any) -> Result:
  """Path-length regularization: (|J_w^T y| - a)^2 on G's latents of a
  batch shrunk by `path_length_batch_shrink`, a the running mean of the
  lengths (decay `path_length_decay`), in the term's state. As loss.py, a
  is updated first and the penalty differentiates through the update's
  batch mean (pl_mean = lerp(pl_mean, mean(lengths), decay), undetached)."""
  shrink = int(config_loss.get("path_length_batch_shrink", 2))
  decay = config_loss.get("path_length_decay", 0.01)
  rows = max(1, inputs.fake.shape[0] // shrink)
  global_n = rows * lax.axis_size(AXIS)
  z_key, g_key, y_key = jax.random.split(jax.random.fold_in(inputs.key, 7), 3)
  z = inputs.latents(z_key, global_n)
  cond = None if inputs.cond is None else jax.tree.map(lambda c: c[:rows], inputs.cond)
  g = functools.partial(inputs.generator, inputs.params, key=g_key)
  styles = lambda z, c: g(z, *(() if c is None else (c,)), method="styles")
  lengths = path_lengths(styles, lambda ws: g(ws, method="synthesize"), z, cond, y_key)
  mean = inputs.state["mean"] + decay * (lax.pmean(jnp.mean(lengths), AXIS)
                                         - inputs.state["mean"])
  penalty = jnp.mean(jnp.square(lengths - mean))
  return Result(penalty, {"path_length_penalty": penalty, "path_length_mean": mean},
                state={"mean": lax.stop_gradient(mean)})


def _check_style_based(config: Any) -> None:
  from jaxgan import models  # pylint: disable=g-import-not-at-top
  if models.spec(config.model.name).truncation != "w":
    raise ValueError(f"config.loss.path_length_weight > 0 needs a style-based generator "
                     f"(a mapping network and synthesis: model 'stylegan2'), not "
                     f"{config.model.name!r}; set config.loss.path_length_weight=0.")
  shrink = config.loss.get("path_length_batch_shrink", 2)
  if shrink < 1:
    raise ValueError(f"config.loss.path_length_batch_shrink must be >= 1, got {shrink}.")


register(Term(
    "path_length", "StyleGAN2's path-length regularization of G (Karras et al. 2020; "
    "weight 2, every 4 G steps, on half the batch); the running mean a lives in the "
    "state; options: the batch shrink and a's decay",
    "E_w,y[(‖J_wᵀ y‖ - a)²]", g=_path_length, needs=frozenset({"generator"}),
    options={"path_length_batch_shrink": 2, "path_length_decay": 0.01},
    prepare=lambda config_loss: config_loss, check=_check_style_based,
    init_state=lambda: {"mean": jnp.zeros((), jnp.float32)}, lazy=True))


def default_config(name: str = "non_saturating", **overrides) -> ml_collections.ConfigDict:
  """`config.loss` with every key at its default (0 for every term)."""
  config = ml_collections.ConfigDict(dict(name=name, **config_defaults()))
  config.update(overrides)
  return config
