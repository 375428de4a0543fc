"""The networks: shapes, masks, the four decoding variants as the paper defines them."""

from __future__ import annotations

import pytest
import torch

from fdiff.config import ModelConfig, model_config_from_dict
from fdiff.errors import FdiffError
from fdiff.model.build import FactorizedUNet, UNet, build_model, parameter_groups, resize_masks
from fdiff.model.summary import summarize

DECODINGS = ["shared", "concat", "mask_hmid", "unshared"]


def tiny(**kw) -> ModelConfig:
    return model_config_from_dict({"preset": "tiny", **kw})


def randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Zero-initialised heads would make every branch output 0: give all weights some noise."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model.eval()


def inputs(n=2, res=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, res, res, generator=g), torch.tensor([5, 700][:n])


@pytest.mark.parametrize("decoding", DECODINGS)
@pytest.mark.parametrize("k", [2, 3])
def test_factorized_shapes_and_masks_sum_to_one(decoding, k):
    model = randomize(build_model(tiny(decoding=decoding, num_regions=k)))
    x, t = inputs()
    out = model(x, t)
    assert out.eps.shape == x.shape
    assert out.masks.shape == (2, k, 16, 16)
    assert torch.allclose(out.masks.sum(1), torch.ones(2, 16, 16), atol=1e-5)
    assert (out.masks >= 0).all()
    # the masks-only path gives the same masks without running a decoder
    assert torch.allclose(model.predict_masks(x, t), out.masks, atol=1e-6)


def test_standard_unet_has_no_masks():
    model = randomize(build_model(tiny(arch="ddpm")))
    x, t = inputs()
    out = model(x, t)
    assert isinstance(model, UNet) and out.masks is None and out.eps.shape == x.shape
    feats = model.decoder_features(x, t)
    assert len(feats) == len(model.decoder.blocks) and feats[-1].shape[-1] == 16


@pytest.mark.parametrize("decoding", ["shared", "mask_hmid"])
def test_batched_branches_equal_reference_loop(decoding):
    model = randomize(build_model(tiny(decoding=decoding, num_regions=3)))
    x, t = inputs()
    with torch.no_grad():
        batched, looped = model(x, t).eps, model(x, t, looped=True).eps
    assert batched.abs().mean() > 1e-3  # not trivially zero
    torch.testing.assert_close(batched, looped, atol=1e-5, rtol=1e-5)


def _features(model: FactorizedUNet, x, t):
    emb, h_enc, h_mid = model.encode(x, t)
    return emb, h_enc, h_mid


def test_shared_branch_k_sees_enc_times_mask_k():
    """Eq. 6-7: with a one-hot mask on region j, eps = theta_dec(h_mid, h_enc * m_j)."""
    model = randomize(build_model(tiny(decoding="shared")))
    x, t = inputs()
    emb, h_enc, h_mid = _features(model, x, t)
    m = torch.zeros(2, 3, 16, 16)
    m[:, 1, :8] = 1.0  # region 1 is the top half, region 2 the bottom
    m[:, 2, 8:] = 1.0
    with torch.no_grad():
        eps = model.decode(h_mid, h_enc, m, emb)
        m1, m2 = m[:, 1:2], m[:, 2:3]
        e1 = model.decoder(h_mid, [h * resize_masks(m1, h.shape[-1]) for h in h_enc], emb)
        e2 = model.decoder(h_mid, [h * resize_masks(m2, h.shape[-1]) for h in h_enc], emb)
    torch.testing.assert_close(eps, e1 * m1 + e2 * m2, atol=1e-5, rtol=1e-5)


def test_mask_hmid_masks_the_middle_not_the_skips():
    model = randomize(build_model(tiny(decoding="mask_hmid")))
    x, t = inputs()
    emb, h_enc, h_mid = _features(model, x, t)
    m = torch.zeros(2, 3, 16, 16)
    m[:, 0] = 1.0
    with torch.no_grad():
        eps = model.decode(h_mid, h_enc, m, emb)
        ref = model.decoder(h_mid, h_enc, emb)  # m_0 = 1 everywhere: nothing is masked
    torch.testing.assert_close(eps, ref, atol=1e-5, rtol=1e-5)


def test_unshared_holds_k_decoders_and_shared_holds_one():
    k = 3
    shared = build_model(tiny(decoding="shared", num_regions=k))
    unshared = build_model(tiny(decoding="unshared", num_regions=k))
    standard = build_model(tiny(arch="ddpm"))
    dec = parameter_groups(standard)["decoder"]
    assert parameter_groups(shared)["decoder"] == dec
    assert parameter_groups(unshared)["decoder"] == k * dec
    assert len(unshared.decoders) == k and not hasattr(unshared, "decoder")
    # the mask generator is a decoder-shaped network with a K-channel head (Eq. 4)
    assert shared.mask_generator.head[-1].out_channels == k


def test_concat_decoder_sees_masks_as_extra_channels():
    k = 3
    concat = build_model(tiny(decoding="concat", num_regions=k))
    shared = build_model(tiny(decoding="shared", num_regions=k))
    first_c = concat.decoder.blocks[0][0].in_layers[-1].in_channels
    first_s = shared.decoder.blocks[0][0].in_layers[-1].in_channels
    assert first_c == first_s + 2 * k  # h_mid + m and skip + m (Eq. 5)
    randomize(concat)
    x, t = inputs()
    emb, h_enc, h_mid = _features(concat, x, t)
    m_a = torch.zeros(2, k, 16, 16)
    m_a[:, 0] = 1
    m_b = torch.zeros(2, k, 16, 16)
    m_b[:, 1] = 1
    with torch.no_grad():
        assert not torch.allclose(
            concat.decode(h_mid, h_enc, m_a, emb), concat.decode(h_mid, h_enc, m_b, emb)
        )


def test_class_conditioning_changes_the_output():
    model = randomize(build_model(tiny(num_classes=5)))
    x, t = inputs()
    with torch.no_grad():
        a = model(x, t, torch.tensor([0, 1])).eps
        b = model(x, t, torch.tensor([2, 3])).eps
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="class-conditional"):
        model(x, t)


def test_mask_head_is_not_zero_initialised():
    """Uniform masks with shared branches are a symmetric point with no mask gradient."""
    model = build_model(tiny())
    x, t = inputs()
    m = model.predict_masks(x, t)
    assert m.std() > 1e-4


@pytest.mark.parametrize(
    ("preset", "arch", "lo", "hi"),
    [
        # guided-diffusion widths, 4 heads, scale-shift norm; the attention resolutions and
        # num_res_blocks move these the most (each 64 px res block at 4C is ~5M parameters)
        ("paper64", "ddpm", 105e6, 125e6),
        ("paper64", "factorized", 170e6, 200e6),
        ("paper128", "ddpm", 85e6, 105e6),
        ("paper128", "factorized", 135e6, 165e6),
    ],
)
def test_paper_preset_parameter_counts(preset, arch, lo, hi):
    s = summarize(model_config_from_dict({"preset": preset, "arch": arch}), preset)
    assert lo <= s.total_parameters <= hi


def test_masks_only_path_costs_one_standard_forward():
    fact = summarize(model_config_from_dict({"preset": "paper64"}))
    std = summarize(model_config_from_dict({"preset": "paper64", "arch": "ddpm"}))
    assert fact.gflops_masks_only == pytest.approx(std.gflops_forward, rel=0.01)
    assert 2.9 < fact.gflops_forward / std.gflops_forward < 3.3


@pytest.mark.parametrize(
    ("override", "culprit"),
    [
        ({"num_regions": 1}, "num_regions"),
        ({"resolution": 17}, "resolution"),
        ({"decoding": "stacked"}, "decoding"),
        ({"channels": 8}, "channels"),
        ({"channel_mult": "1,2"}, "channel_mult"),
    ],
)
def test_bad_model_config_names_the_key(override, culprit):
    with pytest.raises(FdiffError, match=culprit):
        model_config_from_dict({"preset": "tiny", **override})


def test_hierarchical_is_a_model_option_that_round_trips(tmp_path):
    from fdiff.config import DiffusionConfig
    from fdiff.model.hierarchical import HierarchicalFactorizedUNet
    from fdiff.training.checkpoint import load_model, model_state, save

    cfg = tiny(num_regions=2, sub_regions=2)
    model = randomize(build_model(cfg))
    assert isinstance(model, HierarchicalFactorizedUNet) and model.num_regions == 4
    x, t = inputs()
    out = model(x, t)
    assert out.masks.shape == (2, 4, 16, 16)
    save(model_state(cfg, DiffusionConfig(), model.state_dict(), 0), tmp_path / "m.pt")
    loaded, _ = load_model(tmp_path / "m.pt")
    torch.testing.assert_close(loaded(x, t).eps, out.eps)
    with pytest.raises(FdiffError, match="sub_regions"):
        tiny(arch="ddpm", sub_regions=2)


def test_the_hierarchical_model_is_labelled_as_itself(tmp_path, shapes16):
    """model.pt's arch, the prediction files' method and the eval CSV's method say
    'hierarchical'; a model file written when they said 'factorized' installs as 'hierarchical'."""
    import h5py

    from fdiff.cli import main as fdiff_main
    from fdiff.config import DiffusionConfig
    from fdiff.training.checkpoint import file_sha256, install_model, load, model_state, save

    cfg = tiny(num_regions=2, sub_regions=2)
    assert cfg.method == "hierarchical" and tiny().method == "factorized"
    state = model_state(cfg, DiffusionConfig(timesteps=100), build_model(cfg).state_dict(), 0)
    assert state["arch"] == "hierarchical"
    save(state, tmp_path / "model.pt")
    masks = tmp_path / "masks.h5"
    assert fdiff_main(["segment", "--model", str(tmp_path / "model.pt"), "--data",
                       str(shapes16), "--split", "test", "--out", str(masks)]) == 0  # fmt: skip
    with h5py.File(masks) as f:
        assert f.attrs["method"] == "hierarchical"
    scores = tmp_path / "scores.csv"
    assert fdiff_main(["eval-seg", "--pred", str(masks), "--data", str(shapes16),
                       "--out", str(scores)]) == 0  # fmt: skip
    assert "hierarchical" in scores.read_text().splitlines()[1]
    old = load(tmp_path / "model.pt", "fdiff-model-1") | {"arch": "factorized"}
    save(old, tmp_path / "old.pt")
    meta = install_model(tmp_path / "old.pt", file_sha256(tmp_path / "old.pt"), tmp_path / "x.pt")
    assert meta["arch"] == "hierarchical"
    with pytest.raises(FdiffError, match="a 'hierarchical' model, expected 'factorized'"):
        install_model(tmp_path / "old.pt", file_sha256(tmp_path / "old.pt"), tmp_path / "y.pt",
                      arch="factorized")  # fmt: skip
