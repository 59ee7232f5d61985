"""Input handling shared by the metric functions: grey conversion, checks, integer levels.

Every metric takes images on the 8-bit scale: uint8 arrays, or float arrays holding values in
[0, 255]. Colour images are reduced to grey exactly as MATLAB's ``rgb2gray`` does for uint8 data
(see :func:`rgb_to_grey`).
"""

from __future__ import annotations

import numpy as np

from tardal.errors import DataError

#: MATLAB ``rgb2gray`` weights: the first row of the inverse NTSC (YIQ) matrix, to the 15 digits
#: MATLAB itself stores. They differ from the rounded BT.601 weights (0.299, 0.587, 0.114) in the
#: fourth decimal, which changes the rounded grey level of some colour pixels.
RGB2GRAY_WEIGHTS: tuple[float, float, float] = (0.298936021293775, 0.587043074451121, 0.114020904255103)


def round_half_up(x: np.ndarray) -> np.ndarray:
    """Round to the nearest integer, halves away from zero (MATLAB ``round`` and integer casts)."""
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def rgb_to_grey(img: np.ndarray) -> np.ndarray:
    """RGB -> grey as MATLAB's ``rgb2gray`` followed by its uint8 conversion.

    img: (H, W, 3) RGB, uint8 or float in [0, 255] (channel order R, G, B).
    Returns (H, W) uint8: ``round(0.298936*R + 0.587043*G + 0.114021*B)`` with halves rounded up
    and the result saturated to [0, 255], which is what ``imlincomb`` does for uint8 input.
    """
    arr = np.asarray(img)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise DataError(f"rgb_to_grey expects an (H, W, 3) RGB array, found shape {arr.shape}")
    w0, w1, w2 = RGB2GRAY_WEIGHTS
    if arr.dtype == np.uint8:
        # Same products and the same order of additions as below, read from 256-entry tables.
        levels_ = np.arange(256, dtype=np.float64)
        grey = (w0 * levels_)[arr[..., 0]] + (w1 * levels_)[arr[..., 1]] + (w2 * levels_)[arr[..., 2]]
    else:
        arr = arr.astype(np.float64, copy=False)
        grey = w0 * arr[..., 0] + w1 * arr[..., 1] + w2 * arr[..., 2]
    return np.clip(np.floor(grey + 0.5), 0, 255).astype(np.uint8)


def to_grey_u8(img: np.ndarray, name: str = "image") -> np.ndarray:
    """Any supported image -> (H, W) uint8 grey levels, as the MATLAB suites see a file.

    img: (H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA (alpha dropped); uint8, or float in
    [0, 255] (rounded half up, as MATLAB's uint8 conversion). ``name`` is used in error messages.
    """
    arr = np.asarray(img)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[..., :3]
    if arr.ndim == 3 and arr.shape[2] == 3:
        check_range(arr, name)
        return rgb_to_grey(arr)
    if arr.ndim != 2:
        raise DataError(f"{name}: expected a grey (H, W) or RGB (H, W, 3) image, found shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr
    check_range(arr, name)
    return np.clip(round_half_up(arr), 0, 255).astype(np.uint8)


def check_range(arr: np.ndarray, name: str) -> None:
    """Raise DataError unless ``arr`` is uint8 or a finite float/int array within [0, 255]."""
    if arr.dtype == np.uint8:
        return
    numeric = np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    if arr.dtype == np.bool_ or not numeric:
        raise DataError(f"{name}: expected uint8 or float pixel values, found dtype {arr.dtype}")
    if arr.size == 0:
        raise DataError(f"{name}: the image is empty (shape {arr.shape})")
    lo, hi = float(np.min(arr)), float(np.max(arr))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise DataError(f"{name}: the image contains NaN or infinite values")
    if lo < 0.0 or hi > 255.0:
        raise DataError(f"{name}: pixel values must lie in [0, 255], found [{lo:g}, {hi:g}]")


def as_float(img: np.ndarray, name: str = "image") -> np.ndarray:
    """(H, W) grey image -> float64 on the 0..255 scale (no rounding, no rescaling)."""
    arr = np.asarray(img)
    if arr.ndim != 2:
        raise DataError(f"{name}: expected a grey (H, W) image, found shape {arr.shape}")
    if arr.size == 0:
        raise DataError(f"{name}: the image is empty (shape {arr.shape})")
    return arr.astype(np.float64, copy=False)


def levels(img: np.ndarray) -> np.ndarray:
    """(H, W) grey image -> intp grey levels 0..255 (floats rounded half up, then clipped)."""
    arr = np.asarray(img)
    if arr.dtype == np.uint8:
        return arr.astype(np.intp)
    return np.clip(round_half_up(arr), 0, 255).astype(np.intp)


def same_shape(
    first: np.ndarray, *others: np.ndarray, names: tuple[str, ...] = ("fused", "ir", "vis")
) -> None:
    """Raise DataError naming both sizes when an image differs in height/width from ``first``.

    ``names`` labels ``first`` and then ``others`` in the message.
    """
    for name, other in zip(names[1:], others):
        if np.shape(other)[:2] != np.shape(first)[:2]:
            raise DataError(
                f"size mismatch: {names[0]} image is {_hw(first)} (HxW) but {name} image is {_hw(other)}"
            )


def _hw(a: np.ndarray) -> str:
    shape = np.shape(a)
    return f"{shape[0]}x{shape[1]}" if len(shape) >= 2 else str(shape)
