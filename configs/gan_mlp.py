r"""The original GAN (Goodfellow et al. 2014, arXiv:1406.2661) on MNIST: MLPs.

G: z (100) -> two hidden layers of 1200 ReLU units -> 28x28 through tanh;
D: two hidden layers of 240 units with dropout 0.5 -> one logit. The paper's
D used maxout units and trained with SGD with momentum; here D's units are
LeakyReLU (0.2), both players use Adam(2e-4, b1=0.5), and G's hidden layers
are batch-normalised (as in most MLP GANs since DCGAN): without it this G
collapsed to one speckle pattern within a few hundred steps here (D's loss
went to ~0.002 by step 1000, FID 599 vs 390 with BatchNorm and dropout).
The config argument picks the generator loss: 'non_saturating' (max log D(G(z)),
the paper's recommendation in practice) or 'minimax' (the saturating
min log(1 - D(G(z)))).

  python launch.py --config=configs/gan_mlp.py
  python launch.py --config=configs/gan_mlp.py:minimax
  python launch.py --config=configs/gan_mlp.py --config.data.path=../shared/data/fashion_mnist \
      --config.evals.feature_net=classifier_fashion_mnist

MNIST comes from IDX files in data.path (default ../shared/data/mnist); FID in
the MNIST classifier's feature space is measured at the end.
"""

import ml_collections

from jaxgan.configs import common

LOSSES = ("non_saturating", "minimax")


def get_config(loss: str = "non_saturating") -> ml_collections.ConfigDict:
  if loss not in LOSSES:
    raise ValueError(f"Unknown loss {loss!r} (configs/gan_mlp.py:LOSS); valid: "
                     f"{', '.join(LOSSES)}.")
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.model = common.model("mlp", image_size=28, channels=1, latent_dim=100,
                              g_width=1200, d_width=240, depth=2, g_batch_norm=True,
                              d_dropout=0.5)
  config.data = common.mnist_data("mnist")
  config.loss = common.loss(loss)
  config.optimizer = common.optimizers("adam", 2e-4, b1=0.5)
  config.train = common.train(batch_size=100, num_steps=10_000, ema_decay=0.0,
                              sample_every=1000, checkpoint_every=5000)
  config.evals = common.mnist_evals("mnist")
  return config
