"""Centre crop to a square, then resize: antialiased for images, nearest for masks (Pillow).

Images: the largest centred square is cropped, then resized with Pillow's bicubic filter,
whose support widens with the scale factor, i.e. it antialiases when downscaling (like a
box/area prefilter followed by bicubic interpolation). Masks: the same crop, then nearest
neighbour, so class ids are never blended. Cropping first and resizing the square is the same
geometry as ReDO/IEM's "Resize(shorter side) then CenterCrop" up to one pixel of rounding; the
only difference is the image filter (theirs is nearest for Flowers/CUB images too, ours
antialiases images; masks are nearest in both).

Decoding errors become FdiffError naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from fdiff.errors import FdiffError

IMAGE_FILTER = "bicubic (Pillow, antialiased)"
PREPROCESSING = (
    "centre crop to the largest square, then resize to {res}x{res}: images with Pillow bicubic "
    "(antialiased), masks with nearest neighbour"
)


def open_image(path: str | Path, mode: str | None = "RGB") -> Image.Image:
    """Open and fully decode an image file (converted to ``mode`` unless None)."""
    try:
        with Image.open(path) as im:
            im.load()
            return im.convert(mode) if mode and im.mode != mode else im.copy()
    except FileNotFoundError:
        raise FdiffError(f"{path}: file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise FdiffError(f"{path}: cannot decode image (corrupt or truncated?): {e}") from None


def center_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The largest centred square (left, upper, right, lower) of a width x height image."""
    side = min(width, height)
    left = (width - side) // 2
    top = (height - side) // 2
    return left, top, left + side, top + side


def resize_image(im: Image.Image, res: int) -> np.ndarray:
    """Centre crop + antialiased bicubic resize: uint8 [res, res, 3]."""
    im = im.convert("RGB") if im.mode != "RGB" else im
    out = im.crop(center_box(*im.size)).resize((res, res), Image.Resampling.BICUBIC)
    return np.asarray(out, dtype=np.uint8)


def resize_mask(mask: np.ndarray, res: int) -> np.ndarray:
    """Centre crop + nearest resize of a label map uint8 [H, W] -> uint8 [res, res]."""
    if mask.ndim != 2:
        raise ValueError(f"expected a label map [H, W], got shape {mask.shape}")
    im = Image.fromarray(mask.astype(np.uint8), mode="L")
    out = im.crop(center_box(*im.size)).resize((res, res), Image.Resampling.NEAREST)
    return np.asarray(out, dtype=np.uint8)


def check_same_size(image: Image.Image, mask: np.ndarray, mask_path) -> None:
    """Fail when a mask's size differs from its image's (it would be misaligned after cropping)."""
    if mask.shape[:2] != (image.size[1], image.size[0]):
        raise FdiffError(
            f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]} but its image is "
            f"{image.size[0]}x{image.size[1]}"
        )
