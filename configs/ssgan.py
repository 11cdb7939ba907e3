r"""Semi-supervised GAN on MNIST with 100 labels (Salimans et al. 2016,
'Improved Techniques for Training GANs', arXiv:1606.03498, Sec. 5).

The discriminator is a 10-class classifier whose 11th, "generated", logit is
fixed at 0: D(x) = Z(x) / (Z(x) + 1), Z = sum_k exp l_k(x), i.e. the GAN logit
is logsumexp_k l_k. Its loss is the supervised cross-entropy on a batch from
the 100 labelled training images (10 per class, drawn by the seed) plus the
unsupervised GAN loss (minimax: -log D(x) - log(1 - D(G(z)))) on all 60,000
training images, whose labels are never read. The generator minimises feature
matching on D's last hidden layer, with no adversarial term. Networks as in
the paper's MNIST model: G 100 -> 500 -> 500 -> 784, D 784 -> 1000 -> 500 ->
250 -> 250 -> 250 -> 10 with Gaussian noise (std 0.3 on the input, 0.5 after
each layer); without the paper's weight normalisation and batch norm in G.

  python launch.py --config=configs/ssgan.py
  python scripts/ssgan_test_error.py --workdir=runs/ssgan   # D's MNIST test error

The paper: 93 +- 6.5 test errors (of 10,000) with 100 labels (Table 1).
"""

import ml_collections

from jaxgan import evaluation
from jaxgan.configs import cgan, common


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.model = ml_collections.ConfigDict(dict(
      name="ssgan_mlp", image_size=28, channels=1, latent_dim=100,
      num_classes=0,  # the generator is unconditional
      d_classes=10,  # K of the K+1-class discriminator
      g_width=500, depth=2,  # generator: 2 hidden ReLU layers of 500
      d_widths=(1000, 500, 250, 250, 250), d_input_noise=0.3, d_hidden_noise=0.5,
      dtype="float32"))
  config.data = cgan.data("mnist")
  config.data.num_labeled = 100  # labelled training examples, the same number per class
  config.loss = common.loss("minimax", adv_weight=0.0, feature_matching_weight=1.0,
                            semi_supervised_weight=1.0)
  config.optimizer = ml_collections.ConfigDict(dict(
      g=common.optimizer("adam", 1e-3, b1=0.5), d=common.optimizer("adam", 1e-3, b1=0.5)))
  config.train = cgan.train(6000)
  config.train.update(batch_size=100, labeled_batch_size=100, ema_decay=0.0,
                      sample_every=1000, num_samples=100)
  config.evals = evaluation.default_config()  # D's test error: scripts/ssgan_test_error.py
  return config
