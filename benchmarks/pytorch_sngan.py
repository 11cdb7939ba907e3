"""The reference: SNGAN's CIFAR-10 ResNet (Miyato et al. 2018, Table 4) in PyTorch.

The network and step of jaxgan's `sngan` config (configs/sngan.py,
jaxgan/models/resnet.py), written the way PyTorch ports of the paper's
Chainer code write it (pfnet-research/sngan_projection, resnet_32 G and
snresnet_32 D):

- G: z (128) -> linear to 4x4x256 -> three up-blocks (BN, ReLU, 2x nearest
  upsampling, 3x3 conv, BN, ReLU, 3x3 conv; shortcut: upsampling, 1x1 conv)
  -> BN, ReLU, 3x3 conv to 3 channels, tanh.
- D: spectral normalisation on every layer (`torch.nn.utils.parametrizations
  .spectral_norm`, one power iteration per forward pass in training mode, as
  Flax's `nn.SpectralNorm(update_stats=True)`); an optimized first block
  (3x3 conv, ReLU, 3x3 conv, 2x2 mean pool; shortcut: mean pool, 1x1 conv),
  a down-block (ReLU, conv, ReLU, conv, mean pool; shortcut 1x1 conv, mean
  pool), two blocks at 8x8 with identity shortcuts; ReLU, global sum pooling,
  linear.
- Weights: Glorot uniform, with gain sqrt(2) in the residual branches.
- Step (as jaxgan's `train_step`): n_critic = 5 D updates with the hinge loss,
  each on a fresh real and a fresh fake batch (G in training mode, its BN
  statistics updated); the last fake batch is kept for the G update, whose
  loss -D(G(z)) is taken through the D just updated. Adam(2e-4, betas (0,
  0.9)) for both; then the EMA of G's parameters (decay 0.999), as jaxgan keeps.
"""

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

_SQRT2 = 2 ** 0.5


def _conv(cin, cout, k, gain):
  conv = nn.Conv2d(cin, cout, k, 1, k // 2)
  nn.init.xavier_uniform_(conv.weight, gain)
  nn.init.zeros_(conv.bias)
  return conv


class UpBlock(nn.Module):

  def __init__(self, channels):
    super().__init__()
    self.bn1, self.bn2 = nn.BatchNorm2d(channels), nn.BatchNorm2d(channels)
    self.conv1 = _conv(channels, channels, 3, _SQRT2)
    self.conv2 = _conv(channels, channels, 3, _SQRT2)
    self.shortcut = _conv(channels, channels, 1, 1.0)
    self.up = nn.Upsample(scale_factor=2, mode="nearest")

  def forward(self, x):
    h = self.conv1(self.up(torch.relu(self.bn1(x))))
    h = self.conv2(torch.relu(self.bn2(h)))
    return h + self.shortcut(self.up(x))


class Generator(nn.Module):

  def __init__(self, width=256, latent_dim=128, channels=3):
    super().__init__()
    self.width = width
    self.project = nn.Linear(latent_dim, 4 * 4 * width)
    nn.init.xavier_uniform_(self.project.weight)
    nn.init.zeros_(self.project.bias)
    self.blocks = nn.Sequential(*[UpBlock(width) for _ in range(3)])
    self.bn = nn.BatchNorm2d(width)
    self.out = _conv(width, channels, 3, 1.0)

  def forward(self, z):
    x = self.project(z).view(-1, self.width, 4, 4)
    return torch.tanh(self.out(torch.relu(self.bn(self.blocks(x)))))


class DownBlock(nn.Module):

  def __init__(self, cin, cout, down=True, optimized=False):
    super().__init__()
    self.down, self.optimized = down, optimized
    self.conv1 = spectral_norm(_conv(cin, cout, 3, _SQRT2))
    self.conv2 = spectral_norm(_conv(cout, cout, 3, _SQRT2))
    self.shortcut = (spectral_norm(_conv(cin, cout, 1, 1.0))
                     if down or cin != cout else None)

  def forward(self, x):
    h = x if self.optimized else torch.relu(x)
    h = self.conv2(torch.relu(self.conv1(h)))
    if self.down:
      h = nn.functional.avg_pool2d(h, 2)
    if self.shortcut is None:
      return h + x
    if self.optimized:  # pool, then the 1x1 conv (they commute)
      return h + self.shortcut(nn.functional.avg_pool2d(x, 2))
    s = self.shortcut(x)
    return h + (nn.functional.avg_pool2d(s, 2) if self.down else s)


class Discriminator(nn.Module):

  def __init__(self, width=128, channels=3):
    super().__init__()
    self.blocks = nn.Sequential(
        DownBlock(channels, width, optimized=True), DownBlock(width, width),
        DownBlock(width, width, down=False), DownBlock(width, width, down=False))
    linear = nn.Linear(width, 1)
    nn.init.xavier_uniform_(linear.weight)
    nn.init.zeros_(linear.bias)
    self.linear = spectral_norm(linear)

  def forward(self, x):
    h = torch.relu(self.blocks(x)).sum(dim=(2, 3))
    return self.linear(h).flatten()


class Trainer:
  """One call = n_critic D updates and one G update, as jaxgan's step."""

  def __init__(self, g_width=256, d_width=128, latent_dim=128, channels=3, n_critic=5,
               ema_decay=0.999, device="cpu"):
    self.g = Generator(g_width, latent_dim, channels).to(device)
    self.d = Discriminator(d_width, channels).to(device)
    self.g_ema = [p.detach().clone() for p in self.g.parameters()]
    self.opt_g = torch.optim.Adam(self.g.parameters(), lr=2e-4, betas=(0.0, 0.9))
    self.opt_d = torch.optim.Adam(self.d.parameters(), lr=2e-4, betas=(0.0, 0.9))
    self.latent_dim, self.n_critic, self.ema_decay = latent_dim, n_critic, ema_decay
    self.device = device

  def step(self, reals):
    """reals: (n_critic, B, C, H, W), one real batch per D update."""
    batch = reals.shape[1]
    for i in range(self.n_critic):
      z = torch.randn(batch, self.latent_dim, device=self.device)
      last = i == self.n_critic - 1
      with torch.set_grad_enabled(last):
        fake = self.g(z)
      self.d.zero_grad()
      d_loss = (torch.relu(1 - self.d(reals[i])).mean()
                + torch.relu(1 + self.d(fake.detach())).mean())
      d_loss.backward()
      self.opt_d.step()
    self.g.zero_grad()
    g_loss = -self.d(fake).mean()
    g_loss.backward()
    self.opt_g.step()
    with torch.no_grad():
      torch._foreach_lerp_(self.g_ema, [p.detach() for p in self.g.parameters()],
                           1 - self.ema_decay)
    return d_loss.item(), g_loss.item()
