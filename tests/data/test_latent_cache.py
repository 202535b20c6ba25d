"""The UNet phase's latent cache gives the batches that encoding each batch on the fly gives."""
import numpy as np
import pytest
import torch

from vlcp.data import TensorDataset
from vlcp.data.latent_cache import LatentCache, OnTheFlyLatents
from vlcp.models.embedded import build_vae
from vlcp.models.generator import PixelAdapter


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    vae = build_vae(block_out_channels=(32, 32)).eval()
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, size=(40, 1, 28, 28), dtype=np.uint8)
    ds = TensorDataset(data, np.arange(40) % 4, list("abcd"), list("abcd"))
    return vae, ds, PixelAdapter(28, 1, 32, 1, pad_small=True)


@pytest.mark.parametrize("flip,sample", [(False, True), (True, True), (True, False)])
def test_cache_draws_the_on_the_fly_batches(setup, flip, sample):
    vae, ds, adapter = setup
    cache = LatentCache.encode(vae, ds, adapter, flip=flip, sample=sample, batch_size=16)
    live = OnTheFlyLatents(vae, ds, adapter, flip=flip, sample=sample)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    for idx in ([0, 5, 7, 21, 39], [2, 3, 4], list(range(10, 30))):
        a, b = cache.draw(idx, g1), live.draw(idx, g2)
        # the cache encodes batches of 16, the live path the drawn batch: convolution kernels chosen per batch
        # shape round differently (up to ~3e-4 on these unit-scale latents); a wrong index, flip or noise
        # draw differs by O(1)
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3)
        # the generators stayed in step: the next draw of each uses the same random numbers
        assert torch.equal(g1.get_state(), g2.get_state())


def test_mirror_images_are_drawn_when_flips_are_on(setup):
    vae, ds, adapter = setup
    cache = LatentCache.encode(vae, ds, adapter, flip=True, sample=False, batch_size=16)
    plain = LatentCache.encode(vae, ds, adapter, flip=False, sample=False, batch_size=16)
    g = torch.Generator().manual_seed(0)
    z = cache.draw(list(range(40)), g)
    same = torch.isclose(z, plain.draw(list(range(40)), g), atol=1e-6).flatten(1).all(1)
    assert 0 < int(same.sum()) < 40  # some images mirrored, some not
