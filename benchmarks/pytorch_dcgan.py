"""The reference: PyTorch's canonical DCGAN (pytorch/examples dcgan/main.py).

Same architecture and training step as jaxgan's DCGAN: transposed convolutions
with BatchNorm and ReLU in G, strided convolutions with LeakyReLU(0.2) (and
BatchNorm after the first) in D, Adam(2e-4, b1=0.5) for both, one D update then
one G update that reuses the D update's fake batch, non-saturating loss.
`num_up` upsamplings from 4x4: 3 for 32x32 images, 4 for 64x64, 5 for 128x128.
"""

import torch
from torch import nn


def _init(module):
  name = type(module).__name__
  if "Conv" in name:
    nn.init.normal_(module.weight, 0.0, 0.02)
  elif "BatchNorm" in name:
    nn.init.normal_(module.weight, 1.0, 0.02)
    nn.init.zeros_(module.bias)


class Generator(nn.Sequential):

  def __init__(self, image_size=32, channels=3, width=64, latent_dim=100):
    num_up = {32: 3, 64: 4, 128: 5}[image_size]
    features = width * 2 ** (num_up - 1)
    layers = [nn.ConvTranspose2d(latent_dim, features, 4, 1, 0, bias=False),
              nn.BatchNorm2d(features), nn.ReLU(True)]
    for _ in range(num_up - 1):
      layers += [nn.ConvTranspose2d(features, features // 2, 4, 2, 1, bias=False),
                 nn.BatchNorm2d(features // 2), nn.ReLU(True)]
      features //= 2
    layers += [nn.ConvTranspose2d(features, channels, 4, 2, 1), nn.Tanh()]
    super().__init__(*layers)
    self.apply(_init)


class Discriminator(nn.Sequential):

  def __init__(self, image_size=32, channels=3, width=64):
    num_down = {32: 3, 64: 4, 128: 5}[image_size]
    layers = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
    features = width
    for _ in range(num_down - 1):
      layers += [nn.Conv2d(features, 2 * features, 4, 2, 1, bias=False),
                 nn.BatchNorm2d(2 * features), nn.LeakyReLU(0.2, True)]
      features *= 2
    layers += [nn.Conv2d(features, 1, 4, 1, 0), nn.Flatten(0)]
    super().__init__(*layers)
    self.apply(_init)


class Trainer:
  """One call = one D update and one G update, exactly as pytorch/examples."""

  def __init__(self, image_size=32, channels=3, width=64, latent_dim=100,
               device="cpu"):
    self.g = Generator(image_size, channels, width, latent_dim).to(device)
    self.d = Discriminator(image_size, channels, width).to(device)
    self.opt_g = torch.optim.Adam(self.g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    self.opt_d = torch.optim.Adam(self.d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    self.loss = nn.BCEWithLogitsLoss()
    self.latent_dim = latent_dim
    self.device = device

  def step(self, real):
    batch = real.shape[0]
    ones = torch.ones(batch, device=self.device)
    zeros = torch.zeros(batch, device=self.device)
    self.d.zero_grad()
    err_real = self.loss(self.d(real), ones)
    err_real.backward()
    noise = torch.randn(batch, self.latent_dim, 1, 1, device=self.device)
    fake = self.g(noise)
    err_fake = self.loss(self.d(fake.detach()), zeros)
    err_fake.backward()
    self.opt_d.step()
    self.g.zero_grad()
    err_g = self.loss(self.d(fake), ones)
    err_g.backward()
    self.opt_g.step()
    return (err_real + err_fake).item(), err_g.item()
