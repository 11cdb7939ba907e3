"""A trained generator outside training: in a notebook, another JAX project,
or `jaxgan generate`.

    import jax, jaxgan
    G = jaxgan.load_generator('runs/dcgan')          # latest checkpoint, EMA
    images = G.sample(jax.random.PRNGKey(0), 16)     # (16, 32, 32, 1) in [-1, 1]
    z = G.latents(jax.random.PRNGKey(1), 8, truncation=1.0)
    images = jax.jit(G.apply)(z)                     # pure: jit, vmap, grad

Class-conditional generators take labels (`G.sample(key, n, labels=3)`,
`G.apply(z, labels)`), image-to-image ones their inputs
(`G.translate(images)`). `interpolation_strips`, `arithmetic` and
`nearest_neighbours` are what `jaxgan generate --interpolate`,
`--arithmetic` and `--nearest` draw.
"""

from jaxgan.generation._generator import (
    Generator,
    data_shape,
    load_generator,
    render,
    sample_batches,
)
from jaxgan.generation._latents import (
    INTERPOLATIONS,
    arithmetic,
    interpolation_strips,
    lerp,
    parse_arithmetic,
    slerp,
)
from jaxgan.generation._nearest import nearest_neighbours, nearest_rows, pixels

__all__ = [
    'INTERPOLATIONS', 'Generator', 'arithmetic', 'data_shape', 'interpolation_strips',
    'lerp', 'load_generator', 'nearest_neighbours', 'nearest_rows', 'parse_arithmetic',
    'pixels', 'render', 'sample_batches', 'slerp',
]
