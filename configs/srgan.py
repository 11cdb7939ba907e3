r"""SRGAN (Ledig et al. 2017, arXiv:1609.04802): 4x super-resolution with an
SRResNet generator (16 residual blocks, two sub-pixel x2 upsamplings, PReLU)
and the SRGAN discriminator; content loss + 1e-3 x adversarial loss.

Paper hyperparameters: 96x96 high-resolution crops, low-resolution inputs
made by bicubic downsampling by 4, Adam(1e-4, b1=0.9) for both players, batch
16, widths 64; content loss pixel MSE (SRGAN-MSE) or the VGG19 feature loss
(VGG54, features scaled by 1/12.75, i.e. weight ~0.006 on their squared
distance), adversarial weight 1e-3; G initialised from a trained SRResNet.
Here: 28x28 MNIST digits from 7x7 inputs (`data.pairs=downsample4`,
antialiased bicubic), widths 32, 16 blocks, batch 16, the MSE content loss.
The last `data.holdout` pairs are held out: eval/psnr and eval/ssim of G's
outputs there, next to eval/bicubic_psnr and eval/bicubic_ssim of bicubic
upsampling, go to metrics.jsonl at every sample step.

  python launch.py --config=configs/srgan.py --config.data.path=/path/to/mnist

With VGG19 weights (torchvision's state dict saved with torch.save, or an
.npz with its keys; see jaxgan/models/vgg.py) for the VGG content loss:

  python launch.py --config=configs/srgan.py --config.loss.l2_weight=0 \
      --config.loss.perceptual_weight=0.006 --config.loss.vgg_weights=vgg19.pth

Your own images (colour, any size; the inputs are made by downsampling):

  python launch.py --config=configs/srgan.py --config.data.source=folder \
      --config.data.path=/path/to/images --config.model.channels=3 \
      --config.model.image_size=96
"""

import ml_collections

from jaxgan import evaluation
from jaxgan.configs import common


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0

  config.model = ml_collections.ConfigDict(dict(
      name="srgan",
      image_size=28,  # of the targets; inputs are 4x smaller
      channels=1,
      latent_dim=1,  # unused: the generator is deterministic
      g_width=32,  # residual block channels (paper: 64)
      d_width=32,  # first discriminator block channels (paper: 64)
      num_blocks=16,
      dtype="float32",
  ))

  config.data = ml_collections.ConfigDict(dict(
      source="idx",
      pairs="downsample4",  # edges | masked | downsample4 | folder
      pair_seed=0,
      holdout=480,  # a multiple of train.num_samples: one compiled sampler
      direction="AtoB",
      source_channels=0,
      name="",
      split="train",
      path="../shared/data/mnist",
      data_dir="",
      download=False,
      skip_corrupt=True,
      mixed_channels="convert",
      on_device=True,
  ))

  config.loss = common.loss(
      "non_saturating", adv_weight=1e-3, l2_weight=1.0,
      perceptual_weight=0.0,  # VGG content loss weight (paper: ~0.006); needs vgg_weights
      vgg_weights="",  # torchvision VGG19 state dict (.pth) or .npz
      vgg_layer="relu5_4")  # VGG54; relu2_2 for VGG22
  config.optimizer = common.optimizers("adam", 1e-4, b1=0.9)

  config.train = common.train(batch_size=16, num_steps=2000, ema_decay=0.0,
                              sample_every=500, num_samples=48, checkpoint_every=1000,
                              max_checkpoints=2)
  config.evals = evaluation.default_config()
  return config
