r"""The large-scale study of Lucic et al. 2018 ("Are GANs Created Equal? A
Large-Scale Study", arXiv:1711.10337): one pair of networks, many losses,
each given the same random hyperparameter search.

The setting, from the paper (section 4) and google/compare_gan's code at the
paper's release (`compare_gan/src/params.py`, `generate_tasks_lib.py`,
`gans/*.py`, git commit feb24a8):

- The InfoGAN-style networks (`jaxgan.models.infogan`, the paper's Table 4 for
  MNIST and Fashion-MNIST), batch 64, z of 64 (generate_tasks_lib: BATCH_SIZE,
  z_dim), Adam for both players with the same learning rate and beta1
  (beta2 0.999, TF's default), no EMA of G (FID of G's own weights).
- Losses (`LOSSES`): minimax, non-saturating, least squares, WGAN with weight
  clipping, WGAN-GP, DRAGAN (the non-saturating loss with its penalty, as
  gans/DRAGAN.py), and hinge (not in the paper; the loss of SNGAN/BigGAN).
- The "wide" search space (`SEARCH_SPACE`; params.GetDefaultWideRange and
  each loss's extra range): beta1 ~ U[0, 1], learning rate 10^U[-5, -2],
  D updates per G update uniform in {1, ..., 5}, D's BatchNorm on or off
  (the paper's Table 2; the code's list also has layer, spectral and weight
  norm), WGAN's clip 10^U[-3, 0], the penalty's lambda 10^U[-1, 2].
- Each loss's defaults (`get_config`) are the code's defaults for it
  (params.py `UpdateDefaults`); a search replaces them.
- FID of 10,000 samples against the training set. The paper's FID is
  Inception's; here it is jaxgan's classifier for the dataset (Inception's
  weights are not available offline), so the numbers are not on the paper's
  scale; the comparison between losses is what carries over.

Differences kept: z ~ N(0, I) (compare_gan v1 draws z ~ U[-1, 1]); images
in [-1, 1] with G's output 2 sigmoid - 1 (compare_gan: [0, 1] and sigmoid).

  python scripts/study.py                      # the whole study (README "Results")
  python launch.py --config=configs/study.py:wgan_gp,fashion_mnist   # one setting
  python launch.py --config=configs/study.py:wgan_gp,fashion_mnist --sweep=config
"""

import dataclasses
import math

import ml_collections
import numpy as np

from jaxgan.configs import common


@dataclasses.dataclass(frozen=True)
class Loss:
  """One loss of the study: the jaxgan loss, its config.loss overrides, the
  code's defaults (learning rate, beta1, D steps, D's norm) and the search
  keys only it has (name -> `Param`)."""

  loss: str
  overrides: dict
  learning_rate: float
  b1: float
  n_critic: int
  d_norm: str
  extra: tuple = ()


@dataclasses.dataclass(frozen=True)
class Param:
  """A hyperparameter of the search: how it is drawn and the config keys it
  sets (one value for all of them)."""

  name: str
  kind: str  # uniform | log_uniform (bounds are the value's, not the log's) | integer | choice
  values: tuple
  keys: tuple
  # Changes the compiled program (`jaxgan.sweep.program_keys`): drawn once per
  # group of settings by `search(group_size=...)`.
  program: bool = False

  def sample(self, rng: np.random.Generator):
    """A value, real ones to 3 significant digits (short member names)."""
    if self.kind == "uniform":
      return float(f"{rng.uniform(*self.values):.3g}")
    if self.kind == "log_uniform":
      low, high = (math.log10(v) for v in self.values)
      return float(f"{10 ** rng.uniform(low, high):.3g}")
    if self.kind == "integer":
      return int(rng.integers(self.values[0], self.values[1] + 1))
    if self.kind == "choice":
      return self.values[int(rng.integers(len(self.values)))]
    raise ValueError(f"Unknown kind {self.kind!r} of search parameter {self.name!r}.")


_BOTH = lambda key: (f"optimizer.g.{key}", f"optimizer.d.{key}")
# The wide range every loss is searched over (params.GetDefaultWideRange).
SEARCH_SPACE = (
    Param("beta1", "uniform", (0.0, 1.0), _BOTH("b1")),
    Param("learning_rate", "log_uniform", (1e-5, 1e-2), _BOTH("learning_rate")),
    Param("n_critic", "integer", (1, 5), ("train.n_critic",), program=True),
    Param("d_norm", "choice", ("batch", "none"), ("model.d_norm",), program=True),
)
_CLIP = Param("clip", "log_uniform", (1e-3, 1.0), ("optimizer.d.clip",), program=True)
_LAMBDA = lambda key: Param("lambda", "log_uniform", (0.1, 100.0), (f"loss.{key}",))

# params.py's per-loss defaults: GANHyperParams (minimax and non-saturating),
# LSGANHyperParams, WGANHyperParams, WGANGPHyperParams, DRAGANHyperParams.
LOSSES = {
    "minimax": Loss("minimax", {}, 5e-5, 0.0, 1, "batch"),
    "non_saturating": Loss("non_saturating", {}, 5e-5, 0.0, 1, "batch"),
    "least_squares": Loss("least_squares", {}, 2e-4, 0.5, 1, "batch"),
    "wgan": Loss("wasserstein", {}, 5e-5, 0.5, 5, "batch", (_CLIP,)),
    "wgan_gp": Loss("wasserstein", {"gp_weight": 10.0}, 1e-4, 0.5, 5, "none",
                    (_LAMBDA("gp_weight"),)),
    "dragan": Loss("non_saturating", {"dragan_weight": 10.0}, 1e-4, 0.5, 1, "batch",
                   (_LAMBDA("dragan_weight"),)),
    "hinge": Loss("hinge", {}, 2e-4, 0.5, 1, "batch"),
}
# The paper's budget: 20 epochs of the 60,000 training images at batch 64.
PAPER_STEPS = 20 * 60_000 // 64
PAPER_SETTINGS = 100


def _check(name: str) -> str:
  if name not in LOSSES:
    raise ValueError(f"Unknown study loss {name!r} (configs/study.py:LOSS,DATASET); "
                     f"valid: {', '.join(LOSSES)}.")
  return name


def _parse(arg: str) -> tuple[str, str]:
  name, _, dataset = arg.partition(",")
  return _check(name), dataset or "mnist"


def get_config(arg: str = "non_saturating,mnist") -> ml_collections.ConfigDict:
  """'LOSS,DATASET': one of `LOSSES` on mnist or fashion_mnist, with the code's
  defaults for that loss."""
  name, dataset = _parse(arg)
  study = LOSSES[name]
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.model = common.model("infogan", image_size=28, channels=1, latent_dim=64,
                              g_width=64, d_width=64, d_norm=study.d_norm)
  config.data = common.mnist_data(dataset)
  config.loss = common.loss(study.loss, **study.overrides)
  config.optimizer = common.optimizers("adam", study.learning_rate, b1=study.b1,
                                       b2=0.999)
  if name == "wgan":
    config.optimizer.d.clip = 0.01  # WGANHyperParams' default
  config.train = common.train(batch_size=64, n_critic=study.n_critic,
                              num_steps=PAPER_STEPS, ema_decay=0.0, sample_every=1000,
                              checkpoint_every=2000,
                              # a random search diverges now and then: such a
                              # setting skips its non-finite updates and scores
                              # what it reached, instead of stopping its program
                              skip_nonfinite=True)
  config.evals = common.mnist_evals(dataset)
  return config


def search(name: str, num_settings: int, seed: int = 0, group_size: int = 1
           ) -> list[dict]:
  """`num_settings` settings of loss `name` drawn from the wide space (each a
  dict of config overrides), the same for a given seed whatever the number
  (the first k of n+1 are the n's first k).

  `group_size` 1 draws every value of every setting independently, as the
  paper. With g > 1 the settings come in groups of g that share their
  program-changing values (n_critic, D's norm, WGAN's clip: `Param.program`),
  drawn once per group, so each group trains as one vectorised program; every
  value's distribution is the same as with 1, only settings of a group are
  not independent in those values.
  """
  params = SEARCH_SPACE + LOSSES[_check(name)].extra
  if group_size < 1:
    raise ValueError(f"group_size must be >= 1, got {group_size}.")
  settings = []
  for i in range(num_settings):
    rng = np.random.default_rng((seed, i))
    group_rng = np.random.default_rng((seed, i // group_size, 1)) if group_size > 1 else rng
    setting = {}
    for param in params:
      value = param.sample(group_rng if param.program else rng)
      setting.update(dict.fromkeys(param.keys, value))
    settings.append(setting)
  return settings


def get_sweep(arg: str = "non_saturating,mnist") -> list[dict]:
  """The paper's 100 settings of the wide search for this loss (seed 0):
  `--sweep=config` trains them, grouped into one program per (n_critic,
  D's norm, clip) by `jaxgan.sweep.plan`."""
  return search(_parse(arg)[0], PAPER_SETTINGS)
