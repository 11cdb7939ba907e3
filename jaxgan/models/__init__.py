"""GAN architectures, chosen by name with `create(config.model, data_shape)`.

Each architecture is one `ModelSpec` (`spec(name)`, `names()`): its builder,
its kind (`kind(config.model)`: one of KINDS), its checks and the config keys
it reads with their defaults.

Every generator is called as `G(z, train=)`, or `G(z, cond, train=)` when it
is conditional, and returns samples of the data's shape (images in [-1, 1];
R3GAN's G, unbounded as the official one, is trained towards that range);
every discriminator as `D(x, train=)` or `D(x, cond, train=)`, and returns
logits (B,) (PatchGAN: (B, h, w), one per patch; a packing D: (B / pack,)),
or {'logits': (B,), 'class_logits': (B, K)} when it also classifies (AC-GAN,
the semi-supervised K+1 discriminator); the losses average over all logits. `cond` is the
int class label (B,) of a class-conditional model, or the paired input image
of an image-to-image one. A discriminator sows its last hidden features
(B, ...) as 'features' in the 'intermediates' collection (feature matching).
Non-parameter state (BatchNorm statistics, spectral-norm vectors, StyleGAN2's
w_avg) lives in 'batch_stats'; dropout and every other random draw of a
training pass (StyleGAN2's noise inputs and style mixing) come from the
'dropout' rng, which the training step passes and sampling does not. A
style-based generator (truncation 'w', `TRUNCATIONS`) also takes
`truncation=psi` and has `styles(z[, cond], train=)` and
`synthesize(ws, train=)` methods.
"""

from jaxgan.models._registry import (
    KINDS,
    SHARED_DEFAULTS,
    TRUNCATIONS,
    ModelSpec,
    check,
    create,
    data_init,
    data_init_examples,
    discriminator_norm,
    kind,
    names,
    spec,
)
from jaxgan.models.dcgan import Discriminator, Generator

__all__ = ["KINDS", "SHARED_DEFAULTS", "TRUNCATIONS", "Discriminator",
           "Generator", "ModelSpec", "check", "create", "data_init",
           "data_init_examples", "discriminator_norm",
           "kind", "names", "spec"]
