"""pix2pix / CycleGAN networks and the image pool: shapes, reference parameter counts, receptive
fields measured by gradients, and the pool's sampling and resume behaviour."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.families.translation.networks import (
    NORMS,
    ImagePool,
    PatchDiscriminator,
    ResnetBlock,
    ResnetGenerator,
    UNetGenerator,
    init_weights,
    make_norm,
    patch_receptive_field,
)


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


# --------------------------------------------------------------------------------------------------
# make_norm / init_weights


def test_make_norm_kinds_and_unknown_name():
    bn = make_norm("batch", 5)
    assert isinstance(bn, nn.BatchNorm2d) and bn.affine and bn.num_features == 5
    inorm = make_norm("instance", 5)
    assert isinstance(inorm, nn.InstanceNorm2d) and not inorm.affine and not inorm.track_running_stats
    assert isinstance(make_norm("none", 5), nn.Identity)
    assert NORMS == ("batch", "instance", "none")
    with pytest.raises(GanforgeError, match=r"'group'.*batch, instance, none"):
        make_norm("group", 5)
    with pytest.raises(GanforgeError, match=r"'layer'.*batch, instance, none"):
        UNetGenerator(3, 3, depth=3, width=4, norm="layer")
    with pytest.raises(GanforgeError, match=r"'layer'.*batch, instance, none"):
        PatchDiscriminator(3, norm="layer")


def test_init_weights_is_the_reference_normal_init():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(64, 64, 3), nn.BatchNorm2d(4096), nn.Linear(300, 300))
    init_weights(net, gain=0.02)
    conv, bn, lin = net
    for w in (conv.weight, lin.weight):
        assert w.mean().abs() < 2e-3 and w.std().item() == pytest.approx(0.02, rel=0.05)
    assert bn.weight.mean().item() == pytest.approx(1.0, abs=2e-3)
    assert bn.weight.std().item() == pytest.approx(0.02, rel=0.1)
    for b in (conv.bias, bn.bias, lin.bias):
        assert torch.count_nonzero(b) == 0


# --------------------------------------------------------------------------------------------------
# U-Net


def _unet_channels(width: int, level: int) -> int:
    """Channels of the output of level ``level``'s stride-2 convolution: width * min(2**level, 8)."""
    return width * min(2**level, 8)


@pytest.mark.parametrize("depth", range(1, 9))
def test_unet_skip_shapes_at_every_level(depth):
    torch.manual_seed(0)
    width, cin, cout, n = 2, 3, 2, 2
    G = UNetGenerator(cin, cout, depth, width=width).eval()
    assert (G.in_channels, G.out_channels, G.depth) == (cin, cout, depth)
    assert len(G.levels) == depth
    base = 2**depth
    for h, w in ((base, base), (2 * base, 3 * base)):  # the smallest size and a larger, non-square one
        x = torch.rand(n, cin, h, w) * 2 - 1
        shapes = G.skip_shapes(x)
        assert len(shapes) == depth - 1  # every level but the outermost concatenates
        for level in range(1, depth):
            in_level = _unet_channels(width, level - 1)  # what the level above hands down
            out_level = in_level  # the level's up path restores its input's channel count
            conv = G.levels[level].down[1]
            assert (conv.in_channels, conv.out_channels) == (in_level, _unet_channels(width, level))
            assert shapes[level - 1] == (n, in_level + out_level, h // 2**level, w // 2**level)
        with torch.no_grad():
            y = G(x)
        assert y.shape == (n, cout, h, w)
        assert y.min() > -1 and y.max() < 1


def test_unet_skip_is_the_leaky_relu_of_the_level_input_like_the_reference():
    # The reference's in-place LeakyReLU overwrites the tensor it later concatenates.
    torch.manual_seed(0)
    G = UNetGenerator(3, 3, depth=3, width=4).eval()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        level1_input = G.levels[0].down(x)  # [2, 4, 8, 8], has negative entries
        skip = G.skip_tensors(x)[0][:, :4]
    assert (level1_input < 0).any()
    assert torch.equal(skip, nn.functional.leaky_relu(level1_input, 0.2))


def test_unet_depth_must_fit_the_resolution():
    with pytest.raises(GanforgeError, match=r"depth 8.*resolution 128.*largest valid depth is 7"):
        UNetGenerator(3, 3, depth=8, width=4, resolution=128)
    with pytest.raises(GanforgeError, match=r"depth 6.*resolution 96.*largest valid depth is 5"):
        UNetGenerator(3, 3, depth=6, width=4, resolution=96)
    UNetGenerator(3, 3, depth=5, width=4, resolution=96)  # 96 = 3 * 2**5 is fine
    with pytest.raises(GanforgeError, match="depth"):
        UNetGenerator(3, 3, depth=0, width=4)
    G = UNetGenerator(3, 3, depth=3, width=4)
    with pytest.raises(GanforgeError, match="multiples of 8"):
        G(torch.zeros(1, 3, 12, 16))


def test_unet_256_has_the_reference_parameter_count():
    # unet_256 (num_downs 8, ngf 64, batch norm, 3 -> 3 channels). Batch norm: no conv bias except the
    # outermost transposed conv; each BatchNorm2d(c) has 2c parameters. Weights: c_in * c_out * 4 * 4.
    outermost = 3 * 64 * 16 + (128 * 3 * 16 + 3)  # 3072 + 6147: down conv, up conv (+bias), no norms
    level1 = 64 * 128 * 16 + 2 * 128 + 256 * 64 * 16 + 2 * 64  # 131072 + 256 + 262144 + 128 = 393600
    level2 = 128 * 256 * 16 + 2 * 256 + 512 * 128 * 16 + 2 * 128  # 524288 + 512 + 1048576 + 256 = 1573632
    level3 = 256 * 512 * 16 + 2 * 512 + 1024 * 256 * 16 + 2 * 256  # 2097152 + 1024 + 4194304 + 512 = 6292992
    # each of the three 8w-to-8w levels: 4194304 + 1024 + 8388608 + 1024 = 12584960
    level_8w = 512 * 512 * 16 + 2 * 512 + 1024 * 512 * 16 + 2 * 512
    innermost = 512 * 512 * 16 + 512 * 512 * 16 + 2 * 512  # no down norm, no skip in: 8389632
    expected = outermost + level1 + level2 + level3 + 3 * level_8w + innermost
    assert expected == 54_413_955  # the "54.414 M" the reference prints for netG unet_256
    assert n_params(UNetGenerator(3, 3, depth=8, width=64, norm="batch")) == expected


@pytest.mark.parametrize("depth,levels_with_dropout", [(8, [4, 5, 6]), (7, [4, 5]), (6, [4]), (5, []),
                                                       (3, []), (1, [])])
def test_unet_dropout_where_the_reference_has_it(depth, levels_with_dropout):
    G = UNetGenerator(3, 3, depth, width=2)
    found = [i for i, level in enumerate(G.levels) for m in level.modules() if isinstance(m, nn.Dropout)]
    assert found == levels_with_dropout
    for i in found:
        assert isinstance(G.levels[i].up[-1], nn.Dropout) and G.levels[i].up[-1].p == 0.5
        assert isinstance(G.levels[i].up[-2], nn.BatchNorm2d)  # dropout comes after the up norm
    G_off = UNetGenerator(3, 3, depth, width=2, dropout=False)
    assert not any(isinstance(m, nn.Dropout) for m in G_off.modules())


def test_unet_bias_rule_follows_the_norm():
    for norm, bias in (("batch", False), ("instance", True), ("none", True)):
        G = UNetGenerator(3, 3, depth=4, width=2, norm=norm)
        convs = [m for m in G.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        outer_up = G.levels[0].up[1]
        assert outer_up.bias is not None
        assert all((m.bias is not None) == bias for m in convs if m is not outer_up), norm


# --------------------------------------------------------------------------------------------------
# PatchGAN


@pytest.mark.parametrize("layers,expected", [(1, 16), (2, 34), (3, 70), (4, 142)])
def test_patch_receptive_field_measured_by_gradient(layers, expected):
    # Positive weights, zero biases, no norm and a positive input: every pre-activation is positive,
    # so no path cancels and d logit / d input is nonzero exactly on the logit's receptive field.
    D = PatchDiscriminator(1, layers=layers, width=2, norm="none").double().eval()
    with torch.no_grad():
        for m in D.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.fill_(0.05)
                m.bias.zero_()
    x = (torch.rand(1, 1, 256, 256, dtype=torch.float64) + 0.1).requires_grad_(True)
    out = D(x)
    i, j = out.shape[2] // 2, out.shape[3] // 2  # a logit whose window is away from the border
    out[0, 0, i, j].backward()
    nz = x.grad[0, 0] != 0
    rows, cols = nz.any(1).nonzero().flatten(), nz.any(0).nonzero().flatten()
    height, width = int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)
    assert (height, width) == (expected, expected)
    assert int(nz.sum()) == expected * expected  # the whole window, not just its bounding box
    assert rows[0] > 0 and cols[0] > 0 and rows[-1] < 255 and cols[-1] < 255  # not clipped by the border
    assert D.receptive_field == expected
    assert patch_receptive_field(layers) == expected


def test_patch_discriminator_shapes_and_reference_parameter_count():
    D = PatchDiscriminator(3, layers=3, width=8).eval()
    with torch.no_grad():
        assert D(torch.rand(2, 3, 256, 256)).shape == (2, 1, 30, 30)  # the reference's 30x30 patches
        assert D(torch.rand(1, 3, 128, 64)).shape == (1, 1, 14, 6)
    # basic D, ndf 64, 3 input channels, batch norm: k4 convs (c_in * c_out * 16), bias on first/last only.
    expected = ((3 * 64 * 16 + 64)  # 3136
                + (64 * 128 * 16 + 2 * 128)  # 131072 + 256
                + (128 * 256 * 16 + 2 * 256)  # 524288 + 512
                + (256 * 512 * 16 + 2 * 512)  # 2097152 + 1024 (stride-1 conv)
                + (512 * 1 * 16 + 1))  # 8193
    assert expected == 2_765_633  # the reference's "2.765 M" for CycleGAN's D_A
    assert n_params(PatchDiscriminator(3)) == expected
    with pytest.raises(GanforgeError, match="layers"):
        patch_receptive_field(0)


def test_patch_discriminator_layer_stack():
    D = PatchDiscriminator(6, layers=4, width=4, norm="instance")
    convs = [m for m in D.layers if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in convs] == [
        (6, 4, 2), (4, 8, 2), (8, 16, 2), (16, 32, 2), (32, 32, 1), (32, 1, 1)]
    assert not isinstance(D.layers[1], (nn.InstanceNorm2d, nn.BatchNorm2d))  # no norm after the first conv
    assert sum(isinstance(m, nn.InstanceNorm2d) for m in D.layers) == 4
    assert all(c.bias is not None for c in convs)  # instance norm: biases everywhere


# --------------------------------------------------------------------------------------------------
# ResNet generator


def test_resnet_generator_output_shape():
    torch.manual_seed(0)
    G = ResnetGenerator(3, 2, blocks=2, width=4)
    assert (G.in_channels, G.out_channels) == (3, 2)
    for h, w in ((32, 32), (24, 40)):
        y = G(torch.rand(2, 3, h, w) * 2 - 1)
        assert y.shape == (2, 2, h, w)
        assert y.min() > -1 and y.max() < 1
    G3 = ResnetGenerator(1, 1, blocks=1, width=2, downsamplings=3)
    assert G3(torch.rand(1, 1, 16, 16)).shape == (1, 1, 16, 16)


def test_resnet_generator_reflection_pads():
    G = ResnetGenerator(3, 3, blocks=3, width=4)
    seq = list(G.layers)
    for block in (m for m in seq if isinstance(m, ResnetBlock)):
        seq_b = list(block.block)
        convs = [k for k, m in enumerate(seq_b) if isinstance(m, nn.Conv2d)]
        assert len(convs) == 2
        for k in convs:
            assert seq_b[k].padding == (0, 0) and seq_b[k].kernel_size == (3, 3)
            assert isinstance(seq_b[k - 1], nn.ReflectionPad2d) and seq_b[k - 1].padding == (1, 1, 1, 1)
    sevens = [k for k, m in enumerate(seq) if isinstance(m, nn.Conv2d) and m.kernel_size == (7, 7)]
    assert sevens == [1, len(seq) - 2]
    for k in sevens:
        assert seq[k].padding == (0, 0)
        assert isinstance(seq[k - 1], nn.ReflectionPad2d) and seq[k - 1].padding == (3, 3, 3, 3)
    # Only the stride-2 convolutions (and the transposed ones) pad with zeros, as in the reference.
    zero_padded = [m for m in G.modules() if isinstance(m, nn.Conv2d) and m.padding != (0, 0)]
    assert all(m.stride == (2, 2) for m in zero_padded) and len(zero_padded) == 2
    assert sum(isinstance(m, nn.ReflectionPad2d) for m in G.modules()) == 2 + 2 * 3


def test_resnet_generator_parameter_counts():
    # 6 vs 9 blocks differ by 3 blocks; a block at 4 * width channels (2 downsamplings) has two
    # c x c 3x3 convolutions with bias (instance norm has no parameters).
    c = 4 * 8
    block = 2 * (c * c * 9 + c)  # 2 * (9216 + 32) = 18496
    assert n_params(ResnetGenerator(3, 3, blocks=9, width=8)) - n_params(
        ResnetGenerator(3, 3, blocks=6, width=8)) == 3 * block
    block_bn = 2 * (c * c * 9 + 2 * c)  # batch norm: no conv bias, 2c norm parameters per conv
    assert n_params(ResnetGenerator(3, 3, blocks=9, width=8, norm="batch")) - n_params(
        ResnetGenerator(3, 3, blocks=6, width=8, norm="batch")) == 3 * block_bn
    # resnet_9blocks, ngf 64, instance norm, 3 -> 3 channels, by hand:
    expected = ((3 * 64 * 49 + 64)  # 7x7 in: 9472
                + (64 * 128 * 9 + 128) + (128 * 256 * 9 + 256)  # down: 73856 + 295168
                + 9 * 2 * (256 * 256 * 9 + 256)  # blocks: 9 * 1180160
                + (256 * 128 * 9 + 128) + (128 * 64 * 9 + 64)  # up: 295040 + 73792
                + (64 * 3 * 49 + 3))  # 7x7 out: 9411
    assert expected == 11_378_179  # the reference's "11.378 M" for CycleGAN's G_A
    assert n_params(ResnetGenerator(3, 3)) == expected


@pytest.mark.parametrize("norm", ["instance", "batch", "none"])
def test_resnet_block_is_identity_when_its_second_conv_is_zero(norm):
    torch.manual_seed(0)
    block = ResnetBlock(8, norm, dropout=False)
    x = torch.randn(2, 8, 6, 6)
    assert not torch.allclose(block(x), x)  # a live block changes its input
    second = [m for m in block.block if isinstance(m, nn.Conv2d)][1]
    with torch.no_grad():
        second.weight.zero_()
        if second.bias is not None:
            second.bias.zero_()
    assert torch.equal(block(x), x)
    # The same inside a generator: zeroing every block's second conv leaves the blocks as identities.
    G = ResnetGenerator(3, 3, blocks=2, width=2, norm=norm).eval()
    blocks = [m for m in G.layers if isinstance(m, ResnetBlock)]
    with torch.no_grad():
        for b in blocks:
            conv = [m for m in b.block if isinstance(m, nn.Conv2d)][1]
            conv.weight.zero_()
            if conv.bias is not None:
                conv.bias.zero_()
        h = torch.randn(1, 8, 5, 5)
        assert all(torch.equal(b(h), h) for b in blocks)


def test_resnet_dropout_option():
    assert not any(isinstance(m, nn.Dropout) for m in ResnetGenerator(3, 3, blocks=2, width=2).modules())
    drops = [m for m in ResnetGenerator(3, 3, blocks=2, width=2, dropout=True).modules()
             if isinstance(m, nn.Dropout)]
    assert len(drops) == 2 and all(d.p == 0.5 for d in drops)


# --------------------------------------------------------------------------------------------------
# Image pool


def _ids(n0: int, n: int) -> torch.Tensor:
    """n 1x2x2 images whose every pixel is its id (n0, n0+1, ...): exact in float32."""
    return torch.arange(n0, n0 + n, dtype=torch.float32)[:, None, None, None].expand(n, 1, 2, 2).clone()


def _pool_ids(pool: ImagePool) -> list[int]:
    stored = pool.state_dict()["images"]
    return [int(v) for v in stored[:, 0, 0, 0]] if stored.numel() else []


def test_image_pool_returns_inputs_while_filling():
    g = torch.Generator().manual_seed(0)
    pool = ImagePool(5, g)
    before = g.get_state()
    a = _ids(0, 2).requires_grad_(True)
    out = pool.query(a)
    assert torch.equal(out, a) and not out.requires_grad and len(pool) == 2
    b = _ids(2, 2)
    assert torch.equal(pool.query(b), b) and len(pool) == 4
    assert torch.equal(g.get_state(), before)  # filling draws nothing
    b.fill_(-1)  # the pool stored copies
    assert _pool_ids(pool) == [0, 1, 2, 3]
    c = _ids(4, 3)  # the first fills the last slot, the other two meet a full pool
    out = pool.query(c)
    assert torch.equal(out[0], c[0]) and len(pool) == 5
    assert not torch.equal(g.get_state(), before)
    assert out.shape == c.shape and out.dtype == c.dtype and out.device == c.device


def test_image_pool_once_full_returns_stored_images_half_the_time():
    size, steps = 10, 2000
    g = torch.Generator().manual_seed(1234)
    pool = ImagePool(size, g)
    pool.query(_ids(0, size))
    put = set(range(size))
    old_returned, slot_hits = 0, [0] * size
    for t in range(steps):
        new_id = size + t
        before = _pool_ids(pool)
        out = pool.query(_ids(new_id, 1))
        after = _pool_ids(pool)
        got = out[0]
        assert torch.equal(got, got[0, 0, 0].expand_as(got))  # an intact image, not a mix
        got_id = int(got[0, 0, 0])
        if got_id == new_id:
            assert after == before  # new image returned, pool untouched
        else:
            # An image put earlier and still in the pool; the new one takes exactly its slot.
            assert got_id in put and got_id in before
            slot = before.index(got_id)
            assert after == before[:slot] + [new_id] + before[slot + 1:]
            old_returned += 1
            slot_hits[slot] += 1
        put.add(new_id)
    # Binomial(2000, 0.5): sd ~ 22.4; 5 sd either side.
    assert abs(old_returned - steps / 2) < 112
    # Uniform slots: about 100 hits each (sd ~ 9.5), none far off.
    assert all(50 < h < 150 for h in slot_hits)


def test_image_pool_is_sequential_within_a_batch():
    # A size-1 pool: a "take old" returns whatever the slot holds now, which after the first swap is
    # an image of the same batch.
    g = torch.Generator().manual_seed(7)
    pool = ImagePool(1, g)
    pool.query(_ids(0, 1))
    batch = _ids(1, 30)
    out = pool.query(batch)
    held, from_same_batch = 0, 0
    for k in range(30):
        got = int(out[k, 0, 0, 0])
        if got != 1 + k:
            assert got == held
            from_same_batch += got >= 1
            held = 1 + k
    assert _pool_ids(pool) == [held]
    assert from_same_batch > 0


def test_image_pool_size_zero_passes_through():
    g = torch.Generator().manual_seed(0)
    before = g.get_state()
    pool = ImagePool(0, g)
    x = torch.randn(3, 3, 4, 4)
    assert pool.query(x) is x
    assert len(pool) == 0 and torch.equal(g.get_state(), before)
    assert pool.state_dict()["images"].numel() == 0
    with pytest.raises(GanforgeError, match="-1"):
        ImagePool(-1, g)


def test_image_pool_state_dict_round_trip_is_exact():
    g = torch.Generator().manual_seed(3)
    pool = ImagePool(6, g)
    data = torch.Generator().manual_seed(99)
    for _ in range(5):
        pool.query(torch.randn(3, 2, 4, 4, generator=data))
    buf = io.BytesIO()
    torch.save({"pool": pool.state_dict(), "rng": g.get_state()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    g2 = torch.Generator()
    g2.set_state(saved["rng"])
    restored = ImagePool(6, g2)
    restored.load_state_dict(saved["pool"])
    assert len(restored) == len(pool) == 6
    for _ in range(8):
        x = torch.randn(4, 2, 4, 4, generator=data)
        assert torch.equal(pool.query(x), restored.query(x))
    assert torch.equal(pool.state_dict()["images"], restored.state_dict()["images"])
    with pytest.raises(GanforgeError, match="size 6.*size 5"):
        ImagePool(5, g).load_state_dict(pool.state_dict())
    empty = ImagePool(6, g)
    empty.load_state_dict(ImagePool(6, g).state_dict())
    assert len(empty) == 0


def test_image_pool_draws_only_from_its_generator():
    def run(gen_seed: int, global_seed: int) -> list[torch.Tensor]:
        torch.manual_seed(global_seed)
        pool = ImagePool(4, torch.Generator().manual_seed(gen_seed))
        outs = []
        for t in range(12):
            outs.append(pool.query(_ids(10 * t, 3)))
            torch.rand(5)  # global draws in between change nothing
        return outs

    a, b, c = run(5, 0), run(5, 12345), run(6, 0)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))
