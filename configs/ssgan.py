r"""Semi-supervised GAN on MNIST with 100 labels, as improved-gan's
train_mnist_feature_matching.py (Salimans et al. 2016, 'Improved Techniques
for Training GANs', arXiv:1606.03498, Sec. 5; github.com/openai/improved-gan).

The discriminator is a 10-class classifier whose 11th, "generated", logit is
fixed at 0: D(x) = Z(x) / (Z(x) + 1), Z = sum_k exp l_k(x), i.e. the GAN logit
is logsumexp_k l_k. Its loss is the supervised cross-entropy on a batch from
the 100 labelled training images (10 per class, drawn by the seed) plus half
the unsupervised GAN loss (minimax: -log D(x) - log(1 - D(G(z)))) on all
60,000 training images, whose labels are never read. The generator minimises
feature matching on D's last hidden layer, with no adversarial term.

Networks and training as the official code:
- G: z uniform in [0, 1)^100 -> dense 500 softplus + BatchNorm (no scale) ->
  dense 500 softplus + BatchNorm -> dense 784 sigmoid, weight-normalised
  (`mlp.FeatureMatchingGenerator`).
- D: images in [0, 1], Gaussian noise (std 0.3) -> weight-normalised dense
  1000-500-250-250-250 ReLU layers, Gaussian noise (std 0.5) after each ->
  10 weight-normalised logits; hidden layers' scales fixed at their
  data-dependent initialisation on 500 training images, the output's trained
  (`layers.WeightNormDense`, `conditional.NoisyMLP`).
- Adam(0.003, b1=0.5, eps 1e-8 inside the square root, as its Theano Adam)
  for both players, batch 100 unlabelled + 100 labelled,
  one G update per D update; D's test error with its Polyak-averaged weights
  (decay 0.9999, `optimizer.d.polyak`). The official trains 300 epochs of
  600 steps (180,000 steps, the default here).

Loss weights in jaxgan's terms: the official D loss is CE + 0.5 GAN, here
semi_supervised_weight 2 and the GAN loss at 1, twice it (Adam's steps do not
change with the loss's scale); the official feature matching is the mean over
the 250 features of the squared difference of batch means, jaxgan's the sum,
so its weight is 1/250.

  python launch.py --config=configs/ssgan.py --config.train.num_steps=18000
  python scripts/ssgan_test_error.py --workdir=runs/ssgan   # D's MNIST test error

The paper: 93 +- 6.5 test errors (of 10,000) with 100 labels (Table 1).
"""

import ml_collections

from jaxgan import evaluation
from jaxgan.configs import cgan, common

STEPS_PER_EPOCH = 600  # 60,000 training images in batches of 100


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0  # also draws the 100 labelled images
  config.model = ml_collections.ConfigDict(dict(
      name="ssgan_mlp", image_size=28, channels=1, latent_dim=100,
      num_classes=0,  # the generator is unconditional
      d_classes=10,  # K of the K+1-class discriminator
      g_net="improved_gan", g_width=500, depth=2,
      d_widths=(1000, 500, 250, 250, 250), d_input_noise=0.3, d_hidden_noise=0.5,
      weight_norm=True, d_unit_input=True, data_init_examples=500,
      dtype="float32"))
  config.data = cgan.data("mnist")
  config.data.num_labeled = 100  # labelled training examples, the same number per class
  config.loss = common.loss("minimax", adv_weight=0.0, feature_matching_weight=1 / 250,
                            semi_supervised_weight=2.0)
  # nn.adam_updates: g / sqrt(v_hat + 1e-8), i.e. eps inside the square root.
  adam = dict(b1=0.5, eps=0.0, eps_root=1e-8)
  config.optimizer = ml_collections.ConfigDict(dict(
      g=common.optimizer("adam", 3e-3, **adam),
      d=common.optimizer("adam", 3e-3, polyak=0.9999, **adam)))
  config.train = cgan.train(300 * STEPS_PER_EPOCH)
  config.train.update(batch_size=100, labeled_batch_size=100, ema_decay=0.0,
                      sample_every=10 * STEPS_PER_EPOCH, num_samples=100,
                      checkpoint_every=10 * STEPS_PER_EPOCH)
  config.evals = evaluation.default_config()  # D's test error: scripts/ssgan_test_error.py
  return config
