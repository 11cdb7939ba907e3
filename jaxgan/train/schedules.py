"""Schedules of numbers in a config: learning rates, Adam's beta2, loss weights.

A config block that holds scheduled numbers has a `schedules` string naming
them, e.g. `config.optimizer.g.schedules = "learning_rate=linear:0"` (the
linear decay to zero WGAN-GP and SNGAN train with) or, as R3GAN's CIFAR-10
preset, `config.loss.schedules = "r1_weight=cosine:0.0025@..., ..."`. Each entry
is `KEY=KIND[:FINAL][@STEPS][+WARMUP]`:

- KIND, one of `KINDS`: how the value goes from the block's own value (the
  base, at step 0) to FINAL (default: the base) over STEPS training steps
  (default: `config.train.num_steps`), staying at FINAL after;
- WARMUP: a linear ramp from 0 over the first WARMUP steps, multiplying it.

So `cosine:5e-5@200000+1000` warms up over 1,000 steps and decays from the
base to 5e-5 along a half cosine by step 200,000. The base stays where it is
in the config (one source of truth), so a sweep over it still works. Steps
count training steps (G updates); D's optimizer, which updates n_critic times
per step, reads its schedule at step = updates // n_critic. (Under a G-update
schedule, `G_UPDATES` below, G's optimizer counts G's updates, which are
fewer than the steps.)
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

# KIND -> the fraction of the way from FINAL back to the base at progress
# t in [0, 1] (1 at t = 0, 0 at t = 1).
KINDS: dict[str, Callable[[Any], Any]] = {
    "constant": lambda t: jnp.ones_like(t),
    "linear": lambda t: 1.0 - t,
    "cosine": lambda t: 0.5 * (1.0 + jnp.cos(math.pi * t)),
}

_SPEC = re.compile(r"^(?P<kind>[a-z_]+)(?::(?P<final>[^@+]+))?"
                   r"(?:@(?P<steps>\d+))?(?:\+(?P<warmup>\d+))?$")


@dataclasses.dataclass(frozen=True)
class Schedule:
  """One parsed entry; see the module docstring."""
  kind: str
  final: float | None = None
  steps: int | None = None
  warmup: int = 0

  def value(self, base: Any, step: Any, num_steps: int) -> Any:
    """The scheduled value at training step `step` (traced or not) for the
    value `base` at step 0; `num_steps` when STEPS is not given."""
    steps = self.steps or num_steps
    t = jnp.clip(jnp.asarray(step, jnp.float32) / max(steps, 1), 0.0, 1.0)
    final = base if self.final is None else self.final
    out = final + (base - final) * KINDS[self.kind](t)
    if self.warmup:
      out = out * jnp.minimum(1.0, jnp.asarray(step, jnp.float32) / self.warmup)
    return out


def parse_one(spec: str, where: str) -> Schedule:
  """One `KIND[:FINAL][@STEPS][+WARMUP]`; `where` names it in errors."""
  match = _SPEC.match(spec.strip())
  if not match or match["kind"] not in KINDS:
    raise ValueError(
        f"Cannot read the schedule {spec!r} of {where}: write KIND[:FINAL][@STEPS]"
        f"[+WARMUP] with KIND one of {', '.join(KINDS)}, e.g. 'cosine:5e-5@200000' "
        "or 'linear:0' or 'constant+1000'.")
  try:
    final = None if match["final"] is None else float(match["final"])
  except ValueError:
    raise ValueError(f"The schedule {spec!r} of {where}: FINAL {match['final']!r} "
                     "is not a number.") from None
  steps = None if match["steps"] is None else int(match["steps"])
  if steps == 0:
    raise ValueError(f"The schedule {spec!r} of {where}: STEPS must be >= 1.")
  return Schedule(match["kind"], final, steps, int(match["warmup"] or 0))


def entries(text: str) -> list[tuple[str, str, str]]:
  """A `schedules` string's entries as (entry, key, spec)."""
  out = []
  for entry in filter(None, (e.strip() for e in (text or "").split(","))):
    key, sep, spec = entry.partition("=")
    out.append((entry, key.strip() if sep else "", spec))
  return out


def parse(text: str, valid: tuple[str, ...], block: str) -> dict[str, Schedule]:
  """A block's `schedules` string, `KEY=SPEC, KEY=SPEC`, as {key: Schedule};
  `valid`: the keys of `block` that may be scheduled."""
  out = {}
  for entry, key, spec in entries(text):
    if key not in valid:
      raise ValueError(
          f"config.{block}.schedules: {entry!r} does not name a number of "
          f"config.{block} that can be scheduled; write KEY=SPEC with KEY one of "
          f"{', '.join(valid)}.")
    if key in out:
      raise ValueError(f"config.{block}.schedules schedules {key} twice.")
    out[key] = parse_one(spec, f"config.{block}.{key}")
  return out


def fn(schedule: Schedule | None, base: Any, num_steps: int, updates_per_step: int = 1
       ) -> Any:
  """`base` itself without a schedule, else optax's form: a function of the
  optimizer's update count (`updates_per_step` updates per training step)."""
  if schedule is None:
    return base
  return lambda count: schedule.value(base, count // updates_per_step, num_steps)


# --- Which training steps update the generator (`config.train.g_updates`) ---
#
# A training step is n_critic D updates, then G's (`jaxgan.train.step`). A
# G-update schedule makes some steps end without G's update, so that G waits
# for several steps' worth of critic updates while the batch shape (n_critic)
# stays what it is. Each entry maps n_critic to a function of the step counter
# (traced int32) that is True where the step updates G, or to None: every step
# does (nothing is compiled for it). Steps (`train.num_steps`, schedules,
# logging) then count blocks of n_critic D updates, not G updates.

# The reference WGAN code (martinarjovsky/WassersteinGAN, main.py): `Diters =
# 100 if gen_iterations < 25 or gen_iterations % 500 == 0 else opt.Diters`.
WGAN_BOOST_D_UPDATES, WGAN_BOOST_FIRST, WGAN_BOOST_EVERY = 100, 25, 500


def wgan_boost(n_critic: int) -> Callable[[Any], Any]:
  """WGAN's critic boost: G's first 25 updates and every 500th (its 0th,
  500th, 1000th, ...) wait for 100 critic updates, the others for n_critic.
  A boosted G update is 100 / n_critic steps of which only the last updates
  G. In closed form over the step b, with m = 100 / n_critic: the first 25 m
  steps update G on every m-th; the next 475 all do; from there the pattern
  repeats every m + 499 steps (G's 500 k-th update, m steps, then 499 plain
  ones)."""
  if n_critic > WGAN_BOOST_D_UPDATES or WGAN_BOOST_D_UPDATES % n_critic:
    raise ValueError(
        f"config.train.g_updates='wgan_boost' runs {WGAN_BOOST_D_UPDATES} critic updates "
        f"as steps of n_critic updates, which needs n_critic to divide "
        f"{WGAN_BOOST_D_UPDATES}; got config.train.n_critic={n_critic} (the reference "
        "uses 5).")
  m = WGAN_BOOST_D_UPDATES // n_critic
  first = WGAN_BOOST_FIRST * m  # the steps of G's first 25 updates
  plain = WGAN_BOOST_EVERY - WGAN_BOOST_FIRST  # G's updates 25..499, a step each
  period = m + WGAN_BOOST_EVERY - 1

  def updates_g(step: Any) -> Any:
    step = jnp.asarray(step)
    later = step - first - plain
    return jnp.where(step < first, (step + 1) % m == 0,
                     (later < 0) | (later % period >= m - 1))
  return updates_g


G_UPDATES: dict[str, Callable[[int], Callable[[Any], Any] | None]] = {
    "every_step": lambda n_critic: None,
    "wgan_boost": wgan_boost,
}


def g_updates(train: Any) -> Callable[[Any], Any] | None:
  """`config.train`'s G-update schedule (see `G_UPDATES`): a function of the
  step that says whether it updates G, or None (every step does)."""
  name = train.get("g_updates", "every_step")
  if name not in G_UPDATES:
    raise ValueError(f"Unknown config.train.g_updates={name!r}; valid: "
                     f"{', '.join(G_UPDATES)}.")
  return G_UPDATES[name](train.n_critic)
