"""The TarDAL generator G."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tardal.config import FusionConfig
from tardal.errors import ConfigError
from tardal.fusion import TarDALGenerator, build_fusion


def test_layout_follows_the_spec() -> None:
    g = TarDALGenerator(dim=8, depth=3)
    convs = [m for m in g.modules() if isinstance(m, nn.Conv2d)]
    # encoder, 3 dense layers, 4 head layers; all 3x3 stride 1
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (2, 8), (8, 8), (16, 8), (24, 8), (32, 32), (32, 16), (16, 8), (8, 1)]
    assert all(c.kernel_size == (3, 3) and c.stride == (1, 1) for c in convs)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in g.modules()) == 6
    # default: the input is padded once, every convolution is valid
    assert g.padding == "input" and all(c.padding == (0, 0) for c in convs)
    per_layer = TarDALGenerator(dim=8, depth=3, padding="reflect")
    convs = [m for m in per_layer.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.padding_mode == "reflect" and c.padding == (1, 1) for c in convs)


def test_from_config() -> None:
    g = build_fusion(FusionConfig(name="tardal", dim=4, depth=2, output="tanh", padding="zeros"))
    assert isinstance(g, TarDALGenerator)
    assert (g.dim, g.depth, g.output, g.padding) == (4, 2, "tanh", "zeros")


@pytest.mark.parametrize("output", ["sigmoid", "tanh"])
def test_output_map_stays_in_unit_range_for_extreme_logits(output: str) -> None:
    g = TarDALGenerator(dim=4, depth=1, output=output).eval()
    with torch.no_grad():
        g.head[-1].conv.bias.fill_(50.0)
    x = torch.rand(1, 1, 16, 16)
    hi = g(x, x)
    with torch.no_grad():
        g.head[-1].conv.bias.fill_(-50.0)
    lo = g(x, x)
    assert torch.allclose(hi, torch.ones_like(hi)) and torch.allclose(lo, torch.zeros_like(lo))


def test_output_maps_agree_with_their_formulas() -> None:
    torch.manual_seed(0)
    a = TarDALGenerator(dim=4, depth=1, output="sigmoid", padding="reflect").eval()
    b = TarDALGenerator(dim=4, depth=1, output="tanh", padding="reflect").eval()
    b.load_state_dict(a.state_dict())
    x, y = torch.rand(1, 1, 12, 12), torch.rand(1, 1, 12, 12)
    feats = a.encoder(torch.cat((x, y), 1))
    for layer in a.dense:
        feats = torch.cat((feats, layer(feats)), 1)
    logits = a.head(feats)
    assert torch.allclose(a(x, y), torch.sigmoid(logits))
    assert torch.allclose(b(x, y), (torch.tanh(logits) + 1) / 2)


def test_reflect_padding_keeps_a_constant_image_constant() -> None:
    torch.manual_seed(0)
    reflect = TarDALGenerator(dim=4, depth=2, padding="reflect").eval()
    zeros = TarDALGenerator(dim=4, depth=2, padding="zeros").eval()
    zeros.load_state_dict(reflect.state_dict())
    c = torch.full((1, 1, 20, 24), 0.6)
    with torch.no_grad():
        out_r, out_z = reflect(c, c), zeros(c, c)
    assert float(out_r.max() - out_r.min()) < 1e-6  # no border artefact
    assert float(out_z.max() - out_z.min()) > 1e-4  # zero padding marks the frame


@pytest.mark.parametrize("size", [(20, 24), (6, 7)])
def test_input_padding_keeps_a_constant_image_constant(size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    g = TarDALGenerator(dim=4, depth=2).eval()  # padding "input" (7x6: replicate, too small)
    c = torch.full((1, 1, *size), 0.6)
    with torch.no_grad():
        out = g(c, c)
    assert out.shape == c.shape
    assert float(out.max() - out.min()) < 1e-6


def test_input_padding_output_depends_only_on_the_receptive_radius() -> None:
    torch.manual_seed(0)
    g = TarDALGenerator(dim=4, depth=3).eval()
    r = g.receptive_radius
    assert r == 8
    ir, vis = torch.rand(1, 1, 48, 48), torch.rand(1, 1, 48, 48)
    moved = ir.clone()
    moved[..., 24, 24] += 0.5
    with torch.no_grad():
        diff = (g(moved, vis) - g(ir, vis)).abs()[0, 0]
    ys, xs = torch.nonzero(diff > 0, as_tuple=True)
    assert len(ys) > 0
    assert int((ys - 24).abs().max()) <= r and int((xs - 24).abs().max()) <= r
    assert float(diff[24 - r - 1, 24]) == 0.0


def test_input_padding_matches_per_layer_reflect_inside() -> None:
    """Away from the border (more than r pixels) both layouts compute the same function."""
    torch.manual_seed(0)
    a = TarDALGenerator(dim=4, depth=2).eval()
    b = TarDALGenerator(dim=4, depth=2, padding="reflect").eval()
    b.load_state_dict(a.state_dict())
    ir, vis = torch.rand(1, 1, 40, 36), torch.rand(1, 1, 40, 36)
    r = a.receptive_radius
    with torch.no_grad():
        ya, yb = a(ir, vis), b(ir, vis)
    inner = (..., slice(r, -r), slice(r, -r))
    assert torch.allclose(ya[inner], yb[inner], atol=1e-6)
    assert not torch.allclose(ya, yb, atol=1e-6)  # the borders differ (mirror of input vs maps)


@pytest.mark.parametrize("output", ["sigmoid", "tanh"])
@pytest.mark.parametrize("size", [(37, 53), (9, 30), (6, 20)])  # (6, 20): replicate padding
def test_canvas_layout_gives_the_valid_layout_output(output: str, size: tuple[int, int]) -> None:
    torch.manual_seed(1)
    g = TarDALGenerator(dim=4, depth=3, output=output).double()
    for m in g.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.3, 3.0)
    g.eval()
    c = g.canvas()
    assert c.on_canvas and not g.on_canvas
    assert all(m.padding == (1, 1) for m in c.modules() if isinstance(m, nn.Conv2d))
    assert all(m.padding == (0, 0) for m in g.modules() if isinstance(m, nn.Conv2d))
    assert c.state_dict().keys() == g.state_dict().keys()
    ir, vis = torch.rand(2, 1, *size).double(), torch.rand(2, 1, *size).double()
    with torch.no_grad():
        ref, out = g(ir, vis), c(ir, vis)
    assert out.shape == ref.shape
    assert float((out - ref).abs().max()) < 1e-12
    with pytest.raises(ConfigError, match="canvas layout needs fusion.padding input"):
        TarDALGenerator(dim=4, depth=2, padding="zeros").canvas()


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    g = TarDALGenerator(dim=4, depth=3)
    ir, vis = torch.rand(2, 1, 24, 24), torch.rand(2, 1, 24, 24)
    (g(ir, vis) - 0.3).pow(2).mean().backward()
    for name, p in g.named_parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name


def test_channels_last_training_gives_the_contiguous_gradients_in_channels_last() -> None:
    """On the CPU a channels-last G runs its small BatchNorms on contiguous copies; the
    gradients equal those of a contiguous G, and every block's input gradient comes back
    channels-last (mixed layouts slow the backward several times)."""
    torch.manual_seed(0)
    plain = TarDALGenerator(dim=4, depth=3).train()
    fast = TarDALGenerator(dim=4, depth=3).train()
    fast.load_state_dict(plain.state_dict())
    fast = fast.to(memory_format=torch.channels_last)
    ir, vis = torch.rand(2, 1, 30, 26), torch.rand(2, 1, 30, 26)
    layouts: list[bool] = []

    def record(module: nn.Module, args: tuple) -> None:
        if args[0].requires_grad:
            args[0].register_hook(lambda g: layouts.append(
                g.is_contiguous(memory_format=torch.channels_last)))

    for block in [fast.encoder, *fast.dense, *fast.head]:
        block.register_forward_pre_hook(record)
    outs = []
    for net in (plain, fast):
        out = net(ir, vis)
        (out - 0.3).pow(2).mean().backward()
        outs.append(out.detach())
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-5, atol=1e-6)
    for (name, p), q in zip(plain.named_parameters(), fast.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6, msg=name)
    assert len(layouts) == 7 and all(layouts)  # every block but the encoder (input: no grad)


def test_large_image_in_one_pass() -> None:
    g = TarDALGenerator(dim=2, depth=1).eval()
    with torch.inference_mode():
        out = g(torch.rand(1, 1, 768, 1024), torch.rand(1, 1, 768, 1024))
    assert out.shape == (1, 1, 768, 1024)


@pytest.mark.parametrize("kwargs,match", [
    (dict(dim=0), "fusion.dim"), (dict(output="relu"), "fusion.output"),
    (dict(padding="circular"), "fusion.padding")])
def test_bad_settings_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        TarDALGenerator(**kwargs)


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable float64 Gaussian (window 2 ceil(3 sigma) + 1), replicate border."""
    import math

    r = math.ceil(3 * sigma)
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    g = torch.exp(-t**2 / (2 * sigma**2))
    g = g / g.sum()
    x = torch.nn.functional.pad(x.double(), (r, r, r, r), mode="replicate")
    x = torch.nn.functional.conv2d(x, g.view(1, 1, 1, -1))
    return torch.nn.functional.conv2d(x, g.view(1, 1, -1, 1))


@pytest.mark.parametrize("rule", ["max", "sum"])
def test_detail_split_keeps_g_below_sigma_and_the_sources_above(rule: str) -> None:
    torch.manual_seed(0)
    plain = TarDALGenerator(dim=4, depth=2).eval()
    split = TarDALGenerator(dim=4, depth=2, detail=1.5, detail_rule=rule).eval()
    split.load_state_dict(plain.state_dict())  # the split adds no parameters or state
    assert split.receptive_radius == plain.receptive_radius + 5
    ir, vis = 0.4 + 0.2 * torch.rand(2, 1, 33, 41), torch.rand(2, 1, 33, 41)
    vis[:, :, :, 20:] = 0.5  # flat on the right: the infrared's texture must be picked there
    with torch.no_grad():
        f, out = plain(ir, vis), split(ir, vis)
    d_ir, d_vis = ir.double() - _blur(ir, 1.5), vis.double() - _blur(vis, 1.5)
    pick = d_ir + d_vis if rule == "sum" else torch.where(d_ir.abs() >= d_vis.abs(), d_ir, d_vis)
    ref = (_blur(f, 1.5) + pick).clamp(0, 1)
    assert float((out.double() - ref).abs().max()) < 1e-5
    assert float((out - f).abs().mean()) > 0.02
    # Right of the seam (more than the window's radius away) the texture is the infrared's.
    right = (..., slice(None), slice(26, None))
    torch.testing.assert_close(out.double()[right] - _blur(f, 1.5)[right], d_ir[right],
                               atol=1e-5, rtol=0)
    assert float(d_ir[right].std()) > 0.02


def test_detail_split_is_eval_only_and_tiles_and_exports_exactly() -> None:
    from tardal.fusion.inference import fuse_tiled
    from tardal.fusion.optimize import inference_path

    torch.manual_seed(0)
    g = TarDALGenerator(dim=4, depth=2, detail=2.0)
    plain = TarDALGenerator(dim=4, depth=2)
    plain.load_state_dict(g.state_dict())
    ir, vis = torch.rand(2, 1, 40, 44), torch.rand(2, 1, 40, 44)
    torch.testing.assert_close(g(ir, vis), plain(ir, vis))  # training sees the map itself
    with torch.no_grad():
        assert float((g.eval()(ir, vis) - plain.eval()(ir, vis)).abs().mean()) > 0.02
        whole = g(ir, vis)
        assert float((g.canvas()(ir, vis) - whole).abs().max()) < 1e-5
        r = g.receptive_radius
        assert float((fuse_tiled(g, ir, vis, 32, 2 * r) - whole).abs().max()) < 1e-5
        moved = ir.clone()
        moved[..., 20, 22] += 0.5  # felt beyond the convolutions' radius
        diff = (g(moved, vis) - whole).abs()[0, 0]
        assert float((inference_path(g, torch.device("cpu"))(ir, vis) - whole).abs().max()) < 1e-4
    ys, xs = torch.nonzero(diff > 0, as_tuple=True)
    reach = int(torch.maximum((ys - 20).abs(), (xs - 22).abs()).max())
    assert g.conv_radius < reach <= r


def test_detail_split_from_config_and_its_bounds() -> None:
    g = build_fusion(FusionConfig(dim=4, detail=2.5, detail_rule="sum"))
    assert isinstance(g, TarDALGenerator) and g.detail == 2.5 and g.detail_rule == "sum"
    assert g.receptive_radius == 8 + 8
    for bad in (-1.0, 9.0):
        with pytest.raises(ConfigError, match="fusion.detail"):
            TarDALGenerator(dim=4, detail=bad)
    with pytest.raises(ConfigError, match="fusion.detail_rule"):
        TarDALGenerator(dim=4, detail=1.0, detail_rule="mean")


def _normalised_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """float64 Gaussian over the image's own pixels: zero-padded blur / blurred ones."""
    import math

    r = math.ceil(3 * sigma)
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    g = torch.exp(-t**2 / (2 * sigma**2))
    k = torch.outer(g, g).view(1, 1, 2 * r + 1, 2 * r + 1)
    ones = torch.ones_like(x, dtype=torch.float64)
    conv = torch.nn.functional.conv2d
    return conv(x.double(), k, padding=r) / conv(ones, k, padding=r)


@pytest.mark.parametrize("detail", [0.0, 2.0])
def test_illumination_moves_g_towards_the_sources_average(detail: float) -> None:
    torch.manual_seed(0)
    before = TarDALGenerator(dim=4, depth=2, detail=detail).eval()
    lit = TarDALGenerator(dim=4, depth=2, detail=detail, illum=3.0, illum_weight=0.75).eval()
    lit.load_state_dict(before.state_dict())  # no parameters or state of its own
    assert lit.receptive_radius == before.receptive_radius + 9
    ir, vis = 0.85 + 0.1 * torch.rand(2, 1, 30, 37), 0.6 + 0.2 * torch.rand(2, 1, 30, 37)
    with torch.no_grad():
        y, out = before(ir, vis), lit(ir, vis)
    avg = (ir.double() + vis.double()) / 2
    ref = (y.double() + 0.75 * _normalised_blur(avg - y.double(), 3.0)).clamp(0, 1)
    assert float((out.double() - ref).abs().max()) < 1e-5
    # The illumination moves most of the way to the average; the sources' fine texture stays
    # out (what the step adds is smooth).
    gap_before = float((_normalised_blur(y.double() - avg, 3.0)).abs().mean())
    gap_after = float((_normalised_blur(out.double() - avg, 3.0)).abs().mean())
    assert gap_before > 0.1 and gap_after < 0.35 * gap_before
    high = lambda x: x.double() - _normalised_blur(x, 3.0)  # noqa: E731
    assert float(high(out - y).abs().mean()) < 0.1 * float(high(avg).abs().mean())
    # Weight 0 leaves the output as it was.
    none = TarDALGenerator(dim=4, depth=2, detail=detail, illum=3.0, illum_weight=0.0).eval()
    none.load_state_dict(before.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(none(ir, vis), y)


def test_illumination_is_eval_only_and_tiles_and_exports_exactly() -> None:
    from tardal.fusion.inference import fuse_tiled
    from tardal.fusion.optimize import inference_path

    torch.manual_seed(0)
    g = TarDALGenerator(dim=4, depth=2, detail=1.0, illum=4.0, illum_weight=0.5)
    plain = TarDALGenerator(dim=4, depth=2)
    plain.load_state_dict(g.state_dict())
    ir, vis = torch.rand(1, 1, 72, 80), torch.rand(1, 1, 72, 80)
    torch.testing.assert_close(g(ir, vis), plain(ir, vis))  # training sees the map itself
    r = g.receptive_radius
    assert r == g.conv_radius + 3 + 12
    with torch.no_grad():
        whole = g.eval()(ir, vis)
        assert float((g.canvas()(ir, vis) - whole).abs().max()) < 1e-5
        assert float((fuse_tiled(g, ir, vis, 60, 2 * r) - whole).abs().max()) < 1e-5
        assert float((inference_path(g, torch.device("cpu"))(ir, vis) - whole).abs().max()) < 1e-4
        moved = ir.clone()
        moved[..., 36, 40] += 0.5  # felt beyond the split's radius
        diff = (g(moved, vis) - whole).abs()[0, 0]
    ys, xs = torch.nonzero(diff > 1e-7, as_tuple=True)
    reach = int(torch.maximum((ys - 36).abs(), (xs - 40).abs()).max())
    assert g.conv_radius + 3 < reach <= r


def test_illumination_from_config_and_its_bounds() -> None:
    g = build_fusion(FusionConfig(dim=4, illum=5.0, illum_weight=0.25))
    assert isinstance(g, TarDALGenerator) and (g.illum, g.illum_weight) == (5.0, 0.25)
    assert g.receptive_radius == 8 + 15
    for bad in (-1.0, 65.0):
        with pytest.raises(ConfigError, match="fusion.illum must"):
            TarDALGenerator(dim=4, illum=bad)
    for bad in (-0.5, 1.5):
        with pytest.raises(ConfigError, match="fusion.illum_weight"):
            TarDALGenerator(dim=4, illum=1.0, illum_weight=bad)


def test_tone_step_is_opencv_histogram_equalisation_blended() -> None:
    import cv2
    import numpy as np

    from tardal.fusion.generator import equalize_blend

    torch.manual_seed(0)
    # Two images of a batch, each with a narrow, uneven histogram, on the 8-bit grid.
    y = (torch.rand(2, 1, 40, 52) ** 2 * 0.3 + torch.tensor([0.2, 0.5]).view(2, 1, 1, 1))
    y = (y * 255).round() / 255
    for w in (0.1, 1.0):
        out = equalize_blend(y, w)
        for i in range(2):
            u = (y[i, 0].numpy() * 255).round().astype(np.uint8)
            ref = y[i, 0].numpy() + w * (cv2.equalizeHist(u) / 255.0 - y[i, 0].numpy())
            # OpenCV rounds its table to 8 bits: within half a level (times w)
            assert np.abs(out[i, 0].numpy() - ref).max() <= w * 0.5 / 255 + 1e-6
            torch.testing.assert_close(equalize_blend(y[i:i + 1], w), out[i:i + 1])
    full = equalize_blend(y, 1.0)
    assert float(full.amin()) == 0.0 and float(full.amax()) == 1.0  # spread over [0, 1]
    order = y.flatten(1).argsort(1)  # the tone curve is monotone: the order stays
    sorted_out = full.flatten(1).gather(1, order)
    assert bool((sorted_out.diff(dim=1) >= 0).all())
    flat = torch.full((1, 1, 8, 8), 0.4)
    torch.testing.assert_close(equalize_blend(flat, 1.0), flat)  # one level: left as it is


def test_tone_step_is_eval_only_last_and_global() -> None:
    from tardal.fusion.generator import equalize_blend, split_tone
    from tardal.fusion.inference import fuse_tiled

    torch.manual_seed(0)
    g = TarDALGenerator(dim=4, depth=2, detail=1.0, illum=4.0, illum_weight=0.5, equalize=0.3)
    local = TarDALGenerator(dim=4, depth=2, detail=1.0, illum=4.0, illum_weight=0.5)
    local.load_state_dict(g.state_dict())  # no parameters or state of its own
    assert g.has_eval_steps and g.receptive_radius == local.receptive_radius
    ir, vis = torch.rand(1, 1, 64, 70), torch.rand(1, 1, 64, 70)
    torch.testing.assert_close(g(ir, vis), local(ir, vis))  # training sees the map itself
    g.eval(), local.eval()
    with torch.no_grad():
        whole, before = g(ir, vis), local(ir, vis)
        torch.testing.assert_close(whole, equalize_blend(before, 0.3))
        assert float((whole - before).abs().mean()) > 1e-3
        # without_tone shares the weights; tiles of it, then the step, give G's output
        bare = g.without_tone()
        assert bare.equalize == 0.0 and g.equalize == 0.3
        assert bare.encoder.conv.weight is g.encoder.conv.weight
        tiled = fuse_tiled(bare, ir, vis, 48, 2 * g.receptive_radius)
        assert float((equalize_blend(tiled, 0.3) - whole).abs().max()) < 1e-5
        # fuse_tiled does the same for G itself (the step once, not per tile)
        assert float((fuse_tiled(g, ir, vis, 48, 2 * g.receptive_radius) - whole).abs().max()
                     ) < 1e-5
        assert split_tone(local) == (local, 0.0)
        # the step reads the whole image: a change far away moves this pixel's tone
        far = ir.clone()
        far[..., :20, :20] = 1.0
        assert float((g(far, vis) - whole)[..., 40:, 40:].abs().max()) > 1e-4
        assert float((local(far, vis) - before)[..., 40:, 40:].abs().max()) == 0.0


def test_tone_step_exports_from_opset_16() -> None:
    import numpy as np

    ort = pytest.importorskip("onnxruntime")
    from tardal.export import fusion_onnx

    torch.manual_seed(0)
    g = TarDALGenerator(dim=4, depth=2, illum=2.0, illum_weight=0.5, equalize=0.2).eval()
    session = ort.InferenceSession(fusion_onnx(g, 16), providers=["CPUExecutionProvider"])
    ir, vis = torch.rand(2, 1, 50, 61), torch.rand(2, 1, 50, 61)
    (out,) = session.run(["fused"], {"ir": ir.numpy(), "vis_y": vis.numpy()})
    with torch.no_grad():
        assert np.abs(out - g(ir, vis).numpy()).max() < 1e-4
    with pytest.raises(ConfigError, match="--opset 15: G's tone step .*needs opset 16"):
        fusion_onnx(g, 15)


def test_tone_step_from_config_and_its_bounds() -> None:
    g = build_fusion(FusionConfig(dim=4, equalize=0.25))
    assert isinstance(g, TarDALGenerator) and g.equalize == 0.25 and g.has_eval_steps
    for bad in (-0.1, 1.5):
        with pytest.raises(ConfigError, match="fusion.equalize must be in"):
            TarDALGenerator(dim=4, equalize=bad)
