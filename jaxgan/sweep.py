"""Sweeps: many runs of one config from one command, vectorised when they can be.

A sweep is a list of members, each a dict of config overrides
(`{'seed': 1, 'optimizer.g.learning_rate': 1e-3}`). It is declared as a spec:

- a dict is the product of its keys' values: `{'seed': [0, 1], 'loss.gp_weight':
  [1.0, 10.0]}` has 4 members (a single value is one value);
- a list is its elements' members one after another, so a list of dicts of
  single values is a zip: `[{'seed': 0, 'train.n_critic': 1}, {'seed': 1,
  'train.n_critic': 5}]` has 2 members;
- `product(spec, ...)` combines specs: every member of the first with every
  member of the next.

`get_sweep()` next to `get_config()` in a config file returns a spec, and
`parse('seed=0,1,2,3;optimizer.g.learning_rate=1e-3,2e-4')` reads one from the
command line (`;` separates product factors, `&` zips keys within a factor).

Vectorised mode trains members that differ only in `VECTOR_KEYS` (seed,
optimizer hyperparameters, loss weights) in one compiled program: the state
has a leading member axis, members are spread over the local devices with
`jax.pmap` and vmapped on each device, and each member runs the unchanged
`jaxgan.train.step.train_steps` under `jax.vmap(..., axis_name=AXIS)` over an
axis of size 1, so the step's collectives are identities and each member
computes what a single run computes on one device. Learning rates and betas
are per-member arrays in the optax state (`optax.inject_hyperparams`); loss
weights that differ are traced per-member values. Process mode trains the
members one after another with `train_and_evaluate`. Either way member `name`
writes to `workdir/name/` what a single run writes (samples, metrics.jsonl,
checkpoints, config.json), so a member's directory is also a single run's
workdir; the sweep writes `summary.csv` and `summary.png` to `workdir`.
"""

import ast
import contextlib
import copy
import csv
import difflib
import functools
import itertools
import json
import math
import os
from typing import Any

import jax
import jax.extend.core  # noqa: F401 (jax.extend.core.Jaxpr)
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm
from absl import logging
from jax import lax
from PIL import Image, ImageDraw

from jaxgan import checkpoint as checkpoint_lib
from jaxgan import compilation, distributed, evaluation, models
from jaxgan import data as data_lib
from jaxgan.train import actions as actions_lib
from jaxgan.train import lock as lock_lib
from jaxgan.train import (
  loop,
  objective,
  sampling,
  schedules,
  setup,
  trainer,
  validation,
  writers,
)
from jaxgan.train import state as state_lib
from jaxgan.train import step as step_lib
from jaxgan.train import workdir as workdir_lib

# The loss weights a member may set on its own (`jaxgan.train.objective`).
LOSS_WEIGHTS = objective.vectorisable_keys()
_HYPERPARAMS = ("learning_rate", "b1", "b2", "decay")
# Keys that may differ between the members of one compiled program.
VECTOR_KEYS = (("seed",) + tuple(f"loss.{k}" for k in LOSS_WEIGHTS)
               + tuple(f"optimizer.{p}.{h}" for p in "gd" for h in _HYPERPARAMS))
MODES = ("auto", "vectorised", "process")
# The pmap axis over which the members are spread (the step's own axis, AXIS,
# is the size-1 vmap axis of each member).
MEMBER_AXIS = "members"


# -- Declaring a sweep ---------------------------------------------------------

def expand(spec: Any) -> list[dict]:
  """The members (dicts of overrides) of a spec: a dict is the product of its
  keys' values, a list its elements' members one after another."""
  if isinstance(spec, dict):
    members = [{}]
    for key, values in spec.items():
      values = list(values) if isinstance(values, (list, tuple)) else [values]
      members = [{**m, key: v} for m in members for v in values]
    return members
  if isinstance(spec, (list, tuple)):
    return [m for part in spec for m in expand(part)]
  raise TypeError(f"A sweep spec is a dict (product) or a list (members one after "
                  f"another), got {type(spec).__name__}: {spec!r}.")


def product(*specs: Any) -> list[dict]:
  """Every member of the first spec combined with every member of the next."""
  return [dict(itertools.chain.from_iterable(m.items() for m in combo))
          for combo in itertools.product(*(expand(s) for s in specs))]


def _value(text: str) -> Any:
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text  # a bare word: a string such as a loss name


def parse(text: str) -> list[dict]:
  """Reads a command-line spec: `key=v1,v2` gives a key's values, `&` zips
  keys (same number of values), `;` takes the product of such factors.

  'seed=0,1;optimizer.g.learning_rate=1e-3,2e-4&optimizer.d.learning_rate=1e-3,2e-4'
  has 4 members: 2 seeds times 2 pairs of learning rates.
  """
  factors = []
  for factor in filter(None, (f.strip() for f in text.split(";"))):
    columns = {}
    for group in factor.split("&"):
      key, eq, values = group.partition("=")
      if not eq or not key.strip() or not values.strip():
        raise ValueError(f"Bad sweep {text!r}: {group!r} should read key=v1,v2,... "
                         "(';' separates product factors, '&' zips keys).")
      columns[key.strip()] = [_value(v.strip()) for v in values.split(",")]
    lengths = {k: len(v) for k, v in columns.items()}
    if len(set(lengths.values())) > 1:
      raise ValueError(f"Bad sweep {text!r}: keys zipped with '&' need as many "
                       f"values each, got {lengths}.")
    n = next(iter(lengths.values()))
    factors.append([{k: v[i] for k, v in columns.items()} for i in range(n)])
  if not factors:
    raise ValueError(f"Bad sweep {text!r}: it names no key.")
  return product(*factors)


def member_name(overrides: dict) -> str:
  """A directory name from a member's overrides, each key shortened to its
  shortest dotted suffix that tells the swept keys apart."""
  if not overrides:
    return "base"

  def short(key):
    parts = key.split(".")
    for n in range(1, len(parts) + 1):
      suffix = ".".join(parts[-n:])
      if sum(k == suffix or k.endswith("." + suffix) for k in overrides) == 1:
        return suffix
    return key

  return ",".join(f"{short(k)}={v}" for k, v in overrides.items()).replace("/", "_")


def member_configs(config: ml_collections.ConfigDict, spec: Any
                   ) -> tuple[list[str], list[dict], list[ml_collections.ConfigDict]]:
  """(names, overrides, configs) of the members of `spec` applied to `config`.

  Raises ValueError for an unknown key (listing the valid ones), a value of
  the wrong type, or two members with the same overrides.
  """
  overrides = expand(spec)
  if not overrides:
    raise ValueError("The sweep has no members.")
  valid = sorted(workdir_lib.flatten(config))
  configs = []
  for member in overrides:
    for key in member:
      if key not in valid:
        close = difflib.get_close_matches(key, valid, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown sweep key {key!r}.{hint} Valid keys: "
                         f"{', '.join(valid)}.")
    member_config = copy.deepcopy(config)
    try:
      member_config.update_from_flattened_dict(member)
    except TypeError as e:
      raise ValueError(f"Bad sweep value in {member}: {e}") from e
    configs.append(member_config)
  names = [member_name(m) for m in overrides]
  duplicates = sorted({n for n in names if names.count(n) > 1})
  if duplicates:
    raise ValueError(f"The sweep has the same member more than once: {duplicates}.")
  return names, overrides, configs


def program_keys(configs: list[ml_collections.ConfigDict]) -> list[str]:
  """Config keys that differ between members and are not in `VECTOR_KEYS`:
  they change the compiled program (shapes, losses, schedule), so such members
  cannot train together in vectorised mode."""
  flats = [workdir_lib.flatten(c) for c in configs]
  keys = set().union(*flats)
  vector = set(VECTOR_KEYS) - _scheduled(flats[0])  # a schedule fixes its base in the program
  return sorted(k for k in keys if k not in vector
                and any(f.get(k) != flats[0].get(k) for f in flats))


def _scheduled(flat: dict) -> set[str]:
  """The keys of a flattened config that a `schedules` string names."""
  out = set()
  for key, value in flat.items():
    if key.endswith(".schedules") and value:
      block = key.removesuffix("schedules")
      out |= {block + key for _, key, _ in schedules.entries(value)}
  return out


def pick_mode(configs: list[ml_collections.ConfigDict], mode: str = "auto") -> str:
  """'vectorised' or 'process' for `mode` ('auto': vectorised when it can)."""
  if mode not in MODES:
    raise ValueError(f"Unknown sweep mode {mode!r}; valid: {', '.join(MODES)}.")
  differing = program_keys(configs)
  if mode == "vectorised" and differing:
    raise ValueError(
        f"Vectorised mode trains the members in one compiled program, but they "
        f"differ in {', '.join(differing)}, which change it; sweep only "
        f"{', '.join(VECTOR_KEYS)} together, or use mode 'process'.")
  unconditional = _unconditional(configs[0])
  if mode == "vectorised" and not unconditional:
    raise ValueError("Vectorised sweeps train unconditional models only (no labels, "
                     "labelled stream or paired inputs yet); use mode 'process'.")
  processes = jax.process_count()
  spreadable = len(configs) % processes == 0
  if mode == "vectorised" and not spreadable:
    raise ValueError(
        f"A vectorised sweep over {processes} processes gives each the same number "
        f"of members, but it has {len(configs)}: sweep a multiple of {processes} "
        "members, or use mode 'process' (each member data-parallel over all "
        "processes, one after another).")
  if mode == "auto":
    return ("process" if differing or not unconditional or not spreadable
            else "vectorised")
  return mode


def plan(configs: list[ml_collections.ConfigDict], mode: str = "auto"
         ) -> list[tuple[str, list[int]]]:
  """How the members train: a list of (mode, member indices), one entry per
  compiled program in vectorised mode or one for the process-mode members.

  'vectorised' and 'process' are one entry for every member (`pick_mode`
  checks them). 'auto' groups the members by the values of their
  program-changing keys (`program_keys`: n_critic, a normalisation, WGAN's
  clip...) and picks each group's mode (`pick_mode`), so a random search over
  such keys still trains the members that share a program together; a group
  of one member, when the sweep has several groups, is a single run
  (process mode: no member axis, data-parallel over the devices).
  """
  if mode != "auto":
    return [(pick_mode(configs, mode), list(range(len(configs))))]
  keys = program_keys(configs)
  groups: dict[str, list[int]] = {}
  for i, c in enumerate(configs):
    flat = workdir_lib.flatten(c)
    groups.setdefault(json.dumps([flat.get(k) for k in keys], default=repr), []).append(i)
  if len(groups) == 1:
    return [(pick_mode(configs, mode), list(range(len(configs))))]
  out: list[tuple[str, list[int]]] = []
  for members in groups.values():
    chosen = "process" if len(members) == 1 else pick_mode([configs[i] for i in members])
    if chosen == "process" and out and out[-1][0] == "process":
      out[-1][1].extend(members)
    else:
      out.append((chosen, members))
  return out


def process_share(num_members: int) -> range:
  """The members this process trains in a vectorised sweep: an equal,
  contiguous share of them (`pick_mode` checks that the count divides)."""
  per_process = num_members // jax.process_count()
  start = jax.process_index() * per_process
  return range(start, start + per_process)


def _unconditional(config: ml_collections.ConfigDict) -> bool:
  return setup.model_kind(config) == "unconditional" and not config.data.get("pairs")


# -- Vectorised mode -----------------------------------------------------------

def layout(num_members: int, num_devices: int) -> tuple[int, int]:
  """(devices used, members per device): as few members per device as the
  devices allow, on as few devices as that needs; the last device's spare
  slots run copies of the last member, whose results are dropped."""
  per_device = math.ceil(num_members / num_devices)
  return math.ceil(num_members / per_device), per_device


def spare_slots_note(num_members: int, num_devices: int) -> str | None:
  """What a CPU run should be told when `layout` leaves spare slots, or None.

  A spare slot computes a copy of the last member. Accelerators run their
  slots side by side, so it costs no time; XLA:CPU's forced host devices
  share the same cores, so there it is compute spent for nothing (3 members
  on 2 devices: 4 slots, a quarter of the work)."""
  devices, per_device = layout(num_members, num_devices)
  spare = devices * per_device - num_members
  if not spare:
    return None
  fits = [n for n in range(1, num_members)
          if math.prod(layout(num_members, n)) == num_members]
  return (f"{num_members} members on {num_devices} CPU devices run {devices * per_device} "
          f"member slots, {spare} of them a copy whose result is dropped "
          f"({spare / (devices * per_device):.0%} of the compute). CPU devices share "
          f"the cores: set XLA_FLAGS=--xla_force_host_platform_device_count to "
          f"{', '.join(map(str, fits))} or at least {num_members}, or the members "
          f"to a multiple of {num_devices}.")


def _stack(trees: list) -> Any:
  """Members' pytrees (same leaves) stacked on a new leading axis, with the
  first one's structure."""
  leaves = [jax.tree.leaves(t) for t in trees]
  return jax.tree.unflatten(jax.tree.structure(trees[0]),
                            [np.stack(ls) for ls in zip(*leaves, strict=True)])


def _member(tree: Any, i: int) -> Any:
  """Member `i` of stacked host arrays (arrays, also for scalars)."""
  return jax.tree.map(lambda x: np.asarray(x[i]), tree)


def _with_member_hyperparams(states: state_lib.GANState,
                             configs: list[ml_collections.ConfigDict]
                             ) -> state_lib.GANState:
  """Stacked states whose optax hyperparameters (`inject_hyperparams`) are
  each member's `config.optimizer.{g,d}` values."""
  def player(train_state, p):
    def fix(opt_state):
      if not hasattr(opt_state, "hyperparams"):
        return opt_state
      hyperparams = dict(opt_state.hyperparams)
      for key, old in hyperparams.items():
        if key in _HYPERPARAMS and key in configs[0].optimizer[p]:
          hyperparams[key] = np.asarray([c.optimizer[p][key] for c in configs],
                                        np.asarray(old).dtype)
      return opt_state._replace(hyperparams=hyperparams)

    return train_state.replace(opt_state=jax.tree.map(
        fix, train_state.opt_state, is_leaf=lambda x: hasattr(x, "hyperparams")))

  return states.replace(generator=player(states.generator, "g"),
                        discriminator=player(states.discriminator, "d"))


def make_init(config: ml_collections.ConfigDict, generator, discriminator,
              data_shape: tuple):
  """`init(keys) -> stacked states`: each member initialised from its key as
  a single run initialises (`jaxgan.train.state.create`), in one program."""
  g_tx, d_tx = setup.make_optimizers(config)
  return jax.jit(jax.vmap(lambda key: state_lib.create(
      key, generator, discriminator, g_tx, d_tx, latent_dim=config.model.latent_dim,
      image_shape=data_shape, ema_decay=config.train.ema_decay,
      terms=objective.initial_states(config.loss))))


def initial_states(configs: list[ml_collections.ConfigDict], init
                   ) -> state_lib.GANState:
  """The members' initial states, stacked (host arrays): `init` (see
  `make_init`) from each member's seed, then each member's optimizer
  hyperparameters."""
  keys = jnp.stack([jax.random.PRNGKey(c.seed) for c in configs])
  return _with_member_hyperparams(jax.device_get(init(keys)), configs)


def member_weights(configs: list[ml_collections.ConfigDict]) -> dict[str, np.ndarray]:
  """The loss weights that differ between members, as (members,) arrays."""
  return {k: np.asarray([c.loss.get(k, 0.0) for c in configs], np.float32)
          for k in LOSS_WEIGHTS
          if len({c.loss.get(k, 0.0) for c in configs}) > 1}


def make_sweep_step(generator, discriminator, config: ml_collections.ConfigDict,
                    num_devices: int | None = None):
  """The members' `train_steps`, over the members of a device and pmapped
  over devices, donating the states:
  `p_step(states, batches, rngs, data, weights) -> (states, metrics)`, every
  argument with leading axes (devices, members per device), but `data`
  (devices, ...) and `weights`, the differing loss weights (see `member_weights`).
  In a multi-process run it runs on this process's first `num_devices`
  devices only: each process trains its own members, with no traffic
  between processes.

  A device's members are vmapped, except on CPU when the step convolves
  (`_convolves`): then they run one after another in the same program
  (`lax.map`). vmap turns each member's convolutions into one grouped
  convolution, which XLA:CPU ran at 0.4x the member-steps per second of
  separate ones (4 DCGAN members, benchmarks/scaling.py); matrix multiplies
  batch well (an MLP's 8 members: 1.16x those of `lax.map`).
  """
  base_objective = objective.Objective.from_config(config.loss, config.train.num_steps)
  skip_nonfinite = bool(config.train.get("skip_nonfinite", False))

  def member_steps(state, batches, rng, data, weights):
    step_fn = step_lib.bind_step(generator, discriminator, config, num_devices=1,
                                 objective=base_objective.with_weights(weights))
    steps = functools.partial(step_lib.train_steps, step_fn=step_fn,
                              skip_nonfinite=skip_nonfinite)
    # A single run on one device: the step's collectives over AXIS run over
    # this axis of size 1.
    batches = jax.tree.map(lambda x: x[None], batches)
    state, metrics = jax.vmap(steps, in_axes=(None, 0, None, None),
                              axis_name=step_lib.AXIS)(state, batches, rng, data)
    return jax.tree.map(lambda x: x[0], (state, metrics))

  local = ({} if jax.process_count() == 1 else
           dict(devices=jax.local_devices()[:num_devices], axis_size=num_devices))
  def members(states, batches, rngs, data, weights):
    def one(tree, member_axis=True):  # a member's shapes
      return jax.tree.map(lambda x: jax.ShapeDtypeStruct(
          x.shape[1:] if member_axis else x.shape, x.dtype), tree)
    if jax.default_backend() == "cpu" and _convolves(
        member_steps, one(states), one(batches), one(rngs), one(data, False),
        one(weights)):
      return lax.map(lambda a: member_steps(a[0], a[1], a[2], data, a[3]),
                     (states, batches, rngs, weights))
    return jax.vmap(member_steps, in_axes=(0, 0, 0, None, 0))(
        states, batches, rngs, data, weights)

  return compilation.CompiledStep(
      jax.pmap(members,
               axis_name=MEMBER_AXIS, donate_argnums=(0,), **local),
      compilation.compiler_options())


def _convolves(fn, *args) -> bool:
  """Whether `fn(*args)` (traced, not run) computes a convolution."""
  def walk(jaxpr) -> bool:
    for eqn in jaxpr.eqns:
      if eqn.primitive.name == "conv_general_dilated":
        return True
      for value in eqn.params.values():
        for sub in value if isinstance(value, (tuple, list)) else (value,):
          sub = getattr(sub, "jaxpr", sub)  # a ClosedJaxpr's
          if isinstance(sub, jax.extend.core.Jaxpr) and walk(sub):
            return True
    return False
  return walk(jax.make_jaxpr(fn)(*args).jaxpr)


class _Layout:
  """Puts members' arrays (members, ...) on the devices as (devices, members
  per device, ...), and takes them back."""

  def __init__(self, num_members: int):
    self.num_members = num_members
    self.devices, self.per_device = layout(num_members, jax.local_device_count())
    note = spare_slots_note(num_members, jax.local_device_count())
    if note and jax.default_backend() == "cpu":
      logging.warning(note)
    mesh = jax.sharding.Mesh(np.array(jax.local_devices()[:self.devices]), (MEMBER_AXIS,))
    self._sharding = jax.sharding.NamedSharding(
        mesh, jax.sharding.PartitionSpec(MEMBER_AXIS))

  def put(self, tree: Any) -> Any:
    def one(x):
      x = np.asarray(x)
      pad = self.devices * self.per_device - len(x)
      x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)]) if pad else x
      return jax.device_put(x.reshape(self.devices, self.per_device, *x.shape[1:]),
                            self._sharding)
    return jax.tree.map(one, tree)

  def replicate(self, tree: Any) -> Any:
    return jax.tree.map(lambda x: jax.device_put(
        np.broadcast_to(np.asarray(x), (self.devices, *np.shape(x))), self._sharding),
                        tree)

  def get(self, tree: Any) -> Any:
    return jax.tree.map(
        lambda x: np.asarray(x).reshape(-1, *x.shape[2:])[:self.num_members],
        jax.device_get(tree))

  def members(self, tree: Any) -> list:
    """Each member's host copy of arrays on the devices."""
    return _stack_list(self.get(tree))


_PROGRAMS: dict = {}


def _program(base: ml_collections.ConfigDict, data_shape: tuple,
             weight_keys: tuple[str, ...], num_devices: int) -> tuple:
  """(init, p_step, sampler) for the members of `base` (see `make_init`,
  `make_sweep_step`), reused by a later sweep of the same program (a resumed
  one, tests) without compiling again: the optimizers are static parts of the
  state, so the state must come from the same `init`."""
  # Seeds, optimizer hyperparameters and traced loss weights are values in
  # the state or arguments; loss weights that all members share are baked in.
  ignored = set(workdir_lib.SCHEDULE_KEYS) | (
      set(VECTOR_KEYS) - {f"loss.{w}" for w in LOSS_WEIGHTS if w not in weight_keys})
  program = {k: v for k, v in workdir_lib.flatten(base).items() if k not in ignored}

  def build():
    generator, discriminator = models.create(base.model, data_shape,
                                             axis_name=step_lib.AXIS)
    return (make_init(base, generator, discriminator, data_shape),
            make_sweep_step(generator, discriminator, base, num_devices),
            sampling.make_sampler(base, data_shape))

  key = (json.dumps(program, sort_keys=True, default=repr), tuple(data_shape),
         weight_keys, tuple(d.id for d in jax.devices()),
         num_devices if jax.process_count() > 1 else None)
  if key not in _PROGRAMS:
    _PROGRAMS.clear()  # one program at a time: compiled code is large
    _PROGRAMS[key] = build()
  return _PROGRAMS[key]


def _restore(checkpointers: list, states: state_lib.GANState,
             names: list[str]) -> tuple[int, state_lib.GANState]:
  """(step, stacked states) from the members' checkpoints: the latest step
  that every member saved (a sweep killed between two members' saves
  resumes from the one before)."""
  latest = [c.latest_step() for c in checkpointers]
  if all(s is None for s in latest):
    return 0, states
  if any(s is None for s in latest):
    missing = [n for n, s in zip(names, latest, strict=True) if s is None]
    raise checkpoint_lib.CheckpointError(
        f"Members {missing} of the sweep have no checkpoint but others do; resume "
        "the sweep in a fresh workdir or move the others' checkpoints aside.")
  step = min(latest)
  restored = []
  for i, checkpointer in enumerate(checkpointers):
    if step not in checkpointer.all_steps():
      raise checkpoint_lib.CheckpointError(
          f"Member {names[i]} has no checkpoint of step {step}, the latest that "
          f"every member saved (it has {checkpointer.all_steps()}).")
    _, state, _ = checkpointer.restore(_member(states, i), step=step)
    restored.append(state)
  logging.info("Resumed the sweep from step %d.", step)
  return step, _stack(restored)


class _SweepBatches:
  """The members' batches of steps step+1 .. step+k, (members, k, n_critic,
  B, ...) on the devices (see `_Layout`), each member's drawn by its seed;
  `data`: the images the step gathers them from, when held on the devices."""

  def __init__(self, configs: list[ml_collections.ConfigDict],
               dataset: data_lib.ImageDataset, devices: "_Layout"):
    self._dataset, self._devices = dataset, devices
    self._seeds = [c.seed for c in configs]
    self._n_critic = configs[0].train.n_critic
    self._global_batch = self._n_critic * configs[0].train.batch_size
    # Vectorised members are unconditional (`pick_mode`): images are all they see.
    self._on_device = setup.on_device(configs[0], dataset)
    self.data = devices.replicate({"image": dataset.images}) if self._on_device else None

  def __call__(self, step: int, k: int) -> dict:
    indices = np.stack([np.stack([
        data_lib.batch_indices(len(self._dataset), self._global_batch, seed, s)
        for s in range(step, step + k)]) for seed in self._seeds])
    indices = indices.reshape(len(self._seeds), k, self._n_critic, -1)
    if self._on_device:
      return self._devices.put({"index": indices.astype(np.int32)})
    return self._devices.put({"image": self._dataset.images[indices]})


def _train_vectorised(configs: list[ml_collections.ConfigDict], names: list[str],
                      workdirs: list[str]) -> list[state_lib.GANState]:
  """Trains the members together; returns every member's final host state.

  With several processes each trains its share (`process_share`) on its own
  devices and writes those members' metrics, samples and evaluations; the
  processes save every member's checkpoints together, of states gathered
  from their owners (process 0 writes them, as in a multi-process run), and
  every process restores every member to resume at one step.
  """
  base = configs[0]
  dataset, _ = setup.load_dataset(base)  # vectorised sweeps take no paired data
  mine = process_share(len(configs))
  spread = jax.process_count() > 1
  own = lambda items: [items[i] for i in mine]
  evaluators = [evaluation.Evaluator(
      c.evals, dataset, w, reference_name=f"{dataset.name}:{c.data.get('split', 'train')}")
      for c, w in zip(own(configs), own(workdirs), strict=True)] if "evals" in base else None
  weights = member_weights(configs)
  devices = _Layout(len(mine))
  init, p_step, sampler = _program(base, dataset.images.shape[1:], tuple(weights),
                                   devices.devices)
  host_states = initial_states(configs, init)
  for w in own(workdirs):
    os.makedirs(w, exist_ok=True)
  with contextlib.ExitStack() as stack:
    checkpointers = []
    for c, w in zip(configs, workdirs, strict=True):
      checkpointers.append(checkpoint_lib.Checkpointer(
          workdir_lib.checkpoint_dir(w), max_to_keep=c.train.max_checkpoints))
      stack.callback(checkpointers[-1].close)
      stack.callback(checkpointers[-1].wait)
    start_step, host_states = _restore(checkpointers, host_states, names)
    members = []
    for i, (name, c, w, checkpointer) in enumerate(zip(
        names, configs, workdirs, checkpointers, strict=True)):
      writer = None
      if i in mine:
        workdir_lib.write_config(c, w)
        workdir_lib.trim_metrics(w, start_step)  # before the writer appends to the file
        writer = stack.enter_context(contextlib.closing(writers.MetricWriter(w)))
      members.append(loop.Member(name, c, w, writer, checkpointer, is_main=i in mine))
    logging.info("Vectorised sweep: %d members%s on %d devices, %d per device.",
                 len(mine), f" (of {len(configs)}, on process {jax.process_index()})"
                 if spread else "", devices.devices, devices.per_device)
    rngs = devices.put(np.stack([jax.random.fold_in(jax.random.PRNGKey(c.seed), 1)
                                 for c in own(configs)]))
    weights = devices.put({k: v[mine.start:mine.stop] for k, v in weights.items()})
    batches = _SweepBatches(own(configs), dataset, devices)
    progress = stack.enter_context(tqdm.tqdm(
        total=base.train.num_steps, initial=start_step, desc="sweep", unit="step",
        dynamic_ncols=True, disable=jax.process_index() != 0))
    everyone = actions_lib.Everyone(
        members, lambda states: _stack_list(distributed.gather_trees(_stack(states))))
    actions = actions_lib.standard(
        own(members), [sampling.make_painter(c, sampler, dataset) for c in own(configs)],
        evaluators, sampler, len(dataset), progress, everyone=everyone if spread else None)
    states = loop.train(
        devices.put(jax.tree.map(lambda x: x[mine.start:mine.stop], host_states)),
        lambda states, batch: p_step(states, batch, rngs, batches.data, weights),
        batches, actions, start_step=start_step, num_steps=base.train.num_steps,
        steps_per_call=base.train.steps_per_call, per_member=devices.members,
        progress=progress)
    final = devices.members(states)
    return everyone.gather(final) if spread else final


def _stack_list(stacked: Any) -> list:
  """Stacked host arrays -> the list of each member's."""
  return [_member(stacked, i) for i in range(len(jax.tree.leaves(stacked)[0]))]


# -- Running a sweep -----------------------------------------------------------

def train_sweep(config: ml_collections.ConfigDict, spec: Any, workdir: str, *,
                mode: str = "auto") -> dict[str, state_lib.GANState]:
  """Trains every member of `spec` (see `expand`) applied to `config`, each in
  `workdir/<member name>/`, and writes the summary (`summarize`). Running it
  again resumes every member from its checkpoints.

  Args:
    config: the base config.
    spec: the sweep: a dict (product), a list (members), or parsed text.
    workdir: the sweep's directory.
    mode: 'vectorised' (members in one compiled program; they may differ
      only in `VECTOR_KEYS`), 'process' (one after another) or 'auto'
      (vectorised when it can).

  Returns:
    Each member's final state (host copy), by name.

  Raises:
    ValueError: an unknown key or mode, a member config that cannot work, a
      workdir that holds a member run with another config, or keys that
      change the program in vectorised mode; all before anything is compiled.
    WorkdirLocked: another sweep or run is writing to `workdir` or to a
      member's workdir (`jaxgan.train.lock`).
  """
  names, overrides, configs = member_configs(config, spec)
  programs = plan(configs, mode)
  workdirs = [os.path.join(workdir, n) for n in names]
  vectorised = [i for m, members in programs if m == "vectorised" for i in members]
  for i, (c, w) in enumerate(zip(configs, workdirs, strict=True)):  # all fail early
    # A vectorised member is a single run on one device (its batch unsplit).
    validation.check_config(c, num_devices=1 if i in vectorised else None)
    workdir_lib.check_config_file(c, w)
  is_main = jax.process_index() == 0
  os.makedirs(workdir, exist_ok=True)
  with contextlib.ExitStack() as locks:
    # One sweep at a time in `workdir` (its sweep.json and summary); members'
    # workdirs are locked by process 0 in vectorised mode, by each member's
    # `train_and_evaluate` in process mode. All before anything compiles.
    locks.enter_context(lock_lib.hold_all([workdir, *(workdirs[i] for i in vectorised)]))
    if is_main:
      with open(os.path.join(workdir, "sweep.json"), "w") as f:
        json.dump({"mode": mode, "programs": [[m, [names[i] for i in members]]
                                              for m, members in programs],
                   "members": dict(zip(names, overrides, strict=True))}, f,
                  indent=2, default=repr)
    logging.info("Sweep of %d members: %s", len(names), "; ".join(
        f"{m}: {', '.join(names[i] for i in members)}" for m, members in programs))
    if jax.process_count() > 1:
      logging.info(
          "%d processes: in vectorised mode each trains a share of the members on "
          "its own devices, in process mode each member is trained data-parallel "
          "over all processes' devices, one member after another.",
          jax.process_count())
    states, rows = [None] * len(names), {}
    for m, members in programs:
      pick = lambda items, members=members: [items[i] for i in members]
      if m == "vectorised":
        for i, state in zip(members, _train_vectorised(
            pick(configs), pick(names), pick(workdirs)), strict=True):
          states[i] = state
        # Each process read its own members' results; process 0 writes them all.
        mine = [members[i] for i in process_share(len(members))]
        got = distributed.gather_json(summary_rows(
            workdir, [names[i] for i in mine], [overrides[i] for i in mine]))
      else:
        for i in members:
          states[i] = trainer.train_and_evaluate(configs[i], workdirs[i])
        got = [summary_rows(workdir, pick(names), pick(overrides))]
      rows.update((r["member"], r) for rs in got for r in rs)
    if is_main:
      rows = [rows[n] for n in names]
      write_summary(workdir, rows)
      print(format_table(rows))
  return dict(zip(names, states, strict=True))


# -- Summary -------------------------------------------------------------------

_SUMMARY_KEYS = ("d_loss", "g_loss", "d_real_prob", "d_fake_prob")


def _last_values(path: str) -> dict:
  """The last value of every scalar in a metrics.jsonl, and the last step."""
  values = {}
  if os.path.exists(path):
    with open(path) as f:
      for line in f:
        try:
          values.update(json.loads(line))
        except ValueError:
          continue  # a line cut short by a kill
  return values


def summary_rows(workdir: str, names: list[str], overrides: list[dict]) -> list[dict]:
  """A row per member: its overrides, last step, final losses and
  discriminator outputs, last evaluation results."""
  rows = []
  for name, member in zip(names, overrides, strict=True):
    last = _last_values(os.path.join(workdir, name, "metrics.jsonl"))
    rows.append({"member": name, **member, "step": last.get("step"),
                 **{k: last[k] for k in _SUMMARY_KEYS if k in last},
                 **{k: v for k, v in sorted(last.items()) if k.startswith("eval/")}})
  return rows


def summarize(workdir: str, names: list[str], overrides: list[dict]) -> list[dict]:
  """Writes `workdir/summary.csv` and `summary.png` of the members
  (`summary_rows`, `write_summary`); returns the rows."""
  rows = summary_rows(workdir, names, overrides)
  write_summary(workdir, rows)
  return rows


def write_summary(workdir: str, rows: list[dict]) -> None:
  """Writes `workdir/summary.csv` (the rows) and `workdir/summary.png` (a bar
  chart of each loss and evaluation)."""
  fields = list(dict.fromkeys(k for row in rows for k in row))
  with open(os.path.join(workdir, "summary.csv.tmp"), "w", newline="") as f:
    writer = csv.DictWriter(f, fields)
    writer.writeheader()
    writer.writerows(rows)
  os.replace(os.path.join(workdir, "summary.csv.tmp"), os.path.join(workdir, "summary.csv"))
  metrics = [k for k in fields if k in _SUMMARY_KEYS or k.startswith("eval/")]
  writers.save_png(os.path.join(workdir, "summary.png"), bar_charts(rows, metrics))


def _text(value: Any) -> str:
  return f"{value:.4g}" if isinstance(value, float) else str(value)


def format_table(rows: list[dict]) -> str:
  """The summary rows as an aligned text table."""
  fields = list(dict.fromkeys(k for row in rows for k in row))
  cells = [fields] + [[_text(row.get(k, "")) for k in fields] for row in rows]
  widths = [max(len(r[j]) for r in cells) for j in range(len(fields))]
  return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))
                   for r in cells)


def bar_charts(rows: list[dict], metrics: list[str], *, width: int = 260,
               height: int = 180) -> np.ndarray:
  """One bar chart per metric, a bar per member (labelled by its row number
  in summary.csv, from 0), as a uint8 RGB image."""
  columns = min(len(metrics), 3) or 1
  image = Image.new("RGB", (columns * width, max(1, math.ceil(len(metrics) / columns))
                            * height), "white")
  draw = ImageDraw.Draw(image)
  for n, metric in enumerate(metrics):
    left, top = (n % columns) * width, (n // columns) * height
    values = [row.get(metric) for row in rows]
    finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    low, high = min([0.0, *finite]), max([0.0, *finite])
    scale = (height - 50) / ((high - low) or 1.0)
    zero = top + 25 + high * scale
    draw.text((left + 8, top + 4), metric, fill="black")
    bar = (width - 20) / max(len(rows), 1)
    for i, v in enumerate(values):
      x0 = left + 10 + i * bar
      if v in finite:
        draw.rectangle((x0 + 2, min(zero, zero - v * scale), x0 + bar - 2,
                        max(zero, zero - v * scale)), fill=(60, 90, 170))
      draw.text((x0 + 2, top + height - 18), str(i), fill="black")
    draw.line((left + 10, zero, left + width - 10, zero), fill="grey")
  return np.asarray(image)
