"""The ``vifb`` convention: metrics as VIFB's MATLAB code computes them.

VIFB (Zhang et al., "VIFB: a visible and infrared image fusion benchmark", CVPRW 2020) evaluates
colour results per RGB channel and averages, and several of its formulas differ from Tang's
suite (see docs/metrics.md). Every function here takes ``(fused, ir, vis)`` as arrays of shape
(H, W) or (H, W, 3) RGB, uint8 or float on the 0..255 scale, and returns a Python float.

Channel handling follows VIFB's wrappers: a grey fused image is compared with the sources as
given (a colour source is reduced with ``rgb2gray`` where VIFB's code does so); a colour fused
image is evaluated channel by channel against the matching source channels (a grey source is
used for every channel) and the three values are averaged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import numpy as np

from tardal.errors import DataError
from tardal.metrics import basic, edge, structural
from tardal.metrics._arrays import RGB2GRAY_WEIGHTS, check_range, rgb_to_grey, round_half_up, same_shape
from tardal.metrics._filters import separable, sobel


def _plane_stack(img: np.ndarray, name: str) -> np.ndarray:
    """Validate and return float64 (H, W) or (H, W, 3)."""
    arr = np.asarray(img)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[..., :3]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise DataError(f"{name}: expected (H, W) or (H, W, 3) RGB, found shape {arr.shape}")
    check_range(arr, name)
    return arr.astype(np.float64, copy=False)


def _grey(img: np.ndarray, rounded: bool) -> np.ndarray:
    """Colour source -> grey as VIFB's inner functions do: ``rgb2gray`` on uint8 data rounds,
    on double data it does not."""
    if img.ndim == 2:
        return img
    if rounded:
        return rgb_to_grey(img).astype(np.float64)
    w0, w1, w2 = RGB2GRAY_WEIGHTS
    return w0 * img[..., 0] + w1 * img[..., 1] + w2 * img[..., 2]


def _planes(fused: np.ndarray, ir: np.ndarray, vis: np.ndarray) -> Iterator[tuple[np.ndarray, ...]]:
    """(fused, ir, vis) planes as VIFB's wrappers pass them (sources may stay colour)."""
    f = _plane_stack(fused, "fused")
    a = _plane_stack(ir, "ir")
    b = _plane_stack(vis, "vis")
    same_shape(f, a, b)
    if f.ndim == 2:
        yield f, a, b
        return
    for k in range(3):
        yield f[..., k], (a if a.ndim == 2 else a[..., k]), (b if b.ndim == 2 else b[..., k])


PlaneFn = Callable[[np.ndarray, np.ndarray, np.ndarray], float]


def _mean_over_planes(fn: PlaneFn) -> PlaneFn:
    """Apply a per-plane metric following VIFB's channel rules and average the results."""

    @functools.wraps(fn)
    def wrapped(fused: np.ndarray, ir: np.ndarray, vis: np.ndarray) -> float:
        return float(np.mean([fn(f, a, b) for f, a, b in _planes(fused, ir, vis)]))

    return wrapped


def _hist(x: np.ndarray) -> np.ndarray:
    return np.bincount(np.clip(np.floor(x), 0, 255).astype(np.intp).ravel(), minlength=256)


@_mean_over_planes
def entropy(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """EN (VIFB ``Entropy``): 256-bin entropy in bits of ``floor(F)``, averaged over channels."""
    return basic.entropy_from_counts(_hist(f))


@_mean_over_planes
def standard_deviation(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """SD (VIFB ``Variance``, despite the name a standard deviation), per channel, averaged."""
    return float(np.sqrt(np.mean((f - f.mean()) ** 2)))


@_mean_over_planes
def average_gradient(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """AG (VIFB ``Avg_gradient``): Tang's formula per channel, averaged."""
    return basic.average_gradient(f)


def spatial_frequency(fused: np.ndarray, ir: np.ndarray, vis: np.ndarray) -> float:
    """SF (VIFB ``Spatial_frequency``): ``sqrt(RF + CF)`` with sums divided by H*W (not by the
    number of differences).

    A colour image is not split into channels: MATLAB's ``[m, n] = size(F)`` folds the channels
    into the columns, so the code sees the H x 3W image [R | G | B], differences across the
    R/G and G/B seams included, divided by H*3W.
    """
    f = _plane_stack(fused, "fused")
    if f.ndim == 3:
        f = np.concatenate([f[..., 0], f[..., 1], f[..., 2]], axis=1)
    m, n = f.shape
    rf = float(np.sum(np.diff(f, axis=1) ** 2)) / (m * n)
    cf = float(np.sum(np.diff(f, axis=0) ** 2)) / (m * n)
    return float(np.sqrt(rf + cf))


def edge_intensity(fused: np.ndarray, ir: np.ndarray, vis: np.ndarray) -> float:
    """EI (VIFB ``Edge_intensity``): mean Sobel magnitude (``imfilter`` with ``fspecial('sobel')``,
    replicate borders) over all pixels and channels, on 0..255."""
    f = _plane_stack(fused, "fused")
    planes = [f] if f.ndim == 2 else [f[..., k] for k in range(3)]
    total = 0.0
    for p in planes:
        gx, gy = sobel(p, "replicate")
        total += float(np.mean(np.sqrt(gx * gx + gy * gy)))
    return total / len(planes)


def _minmax_levels(x: np.ndarray) -> np.ndarray:
    """VIFB's MI preprocessing: min-max rescale to [0, 1], then ``int16(x * 255)`` (half up)."""
    lo, hi = float(x.min()), float(x.max())
    if hi == lo:
        return np.zeros(x.shape, np.intp)
    return round_half_up((x - lo) / (hi - lo) * 255.0).astype(np.intp)


def _mi_nat(x: np.ndarray, f: np.ndarray) -> float:
    lx = _minmax_levels(x).ravel()
    lf = _minmax_levels(f).ravel()
    joint = np.bincount(lx * 256 + lf, minlength=256 * 256).reshape(256, 256)
    ent = basic.entropy_from_counts
    return ent(joint.sum(axis=1), np.log) + ent(joint.sum(axis=0), np.log) - ent(joint, np.log)


@_mean_over_planes
def mutual_information(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """MI (VIFB ``Mutinf``): MI(vis, F) + MI(ir, F) in nats, each image min-max rescaled to
    0..255 first; per channel, averaged."""
    return _mi_nat(_grey(b, True), f) + _mi_nat(_grey(a, True), f)


def _root_sse_over_n(x: np.ndarray, f: np.ndarray) -> float:
    """VIFB's ``mse``: ``sqrt(sum((x - f)^2)) / (H W)`` (neither an MSE nor an RMSE)."""
    return float(np.sqrt(np.sum((x - f) ** 2)) / x.size)


@_mean_over_planes
def rmse(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """RMSE (VIFB ``Rmse``): mean over the two sources of ``sqrt(SSE) / (H W)`` on 0..255."""
    return 0.5 * (_root_sse_over_n(_grey(b, False), f) + _root_sse_over_n(_grey(a, False), f))


@_mean_over_planes
def psnr(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (VIFB ``Psnr``): ``20 log10(255 / sqrt(e))`` with e the RMSE value above."""
    e = 0.5 * (_root_sse_over_n(_grey(b, False), f) + _root_sse_over_n(_grey(a, False), f))
    return float("inf") if e == 0.0 else float(20.0 * np.log10(255.0 / np.sqrt(e)))


@_mean_over_planes
def ssim(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """SSIM (VIFB ``Ssim``): SSIM(vis, F) + SSIM(ir, F), **summed** (range [-2, 2]), each the
    mean of the 'valid' SSIM map (Gaussian 11 x 11, sigma 1.5, L = 255); per channel, averaged."""
    blur = structural.blur_fn(None)
    f_moments = structural.moments(f, blur)
    s_vis = structural.ssim_mean(_grey(b, True), f, 255.0, blur, f_moments)
    s_ir = structural.ssim_mean(_grey(a, True), f, 255.0, blur, f_moments)
    return s_vis + s_ir


@_mean_over_planes
def qabf(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Qabf (VIFB ``Qabf``): the same formula as ``tang`` on ``255 * x`` intensities (so the
    exact comparisons see integers); per channel, averaged."""
    return edge.qabf(f, _grey(a, False), _grey(b, False), intensity="times255")


def _cross_entropy(x: np.ndarray, f: np.ndarray) -> float:
    p1 = _hist(x) / x.size
    p2 = _hist(f) / f.size
    both = (p1 > 0) & (p2 > 0)
    return float(np.sum(p1[both] * np.log2(p1[both] / p2[both])))


@_mean_over_planes
def cross_entropy(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """CE (VIFB ``Cross_entropy``): mean of the histogram KL divergences D(vis || F) and
    D(ir || F) in bits, bins empty in either image skipped; per channel, averaged. Lower is
    better."""
    return 0.5 * (_cross_entropy(_grey(b, True), f) + _cross_entropy(_grey(a, True), f))


def _normalize1(x: np.ndarray) -> np.ndarray:
    """Z. Liu's ``normalize1``: min-max rescale to 0..255 and round (left alone if all zero)."""
    lo, hi = float(x.min()), float(x.max())
    if hi == 0.0 and lo == 0.0:
        return x
    return round_half_up((x - lo) / (hi - lo) * 255.0)


def _freqspace(n: int) -> np.ndarray:
    """MATLAB ``freqspace`` frequencies for n samples: ((0:n-1) - floor(n/2)) * 2/n."""
    return (np.arange(n) - np.floor(n / 2)) * (2.0 / n)


def _radial_frequency(h: int, w: int, scale_h: float, scale_w: float) -> np.ndarray:
    """sqrt(u^2 + v^2) on the ``freqspace([h, w], 'meshgrid')`` grid scaled by (w, h) factors."""
    u = _freqspace(w)[None, :] * scale_w
    v = _freqspace(h)[:, None] * scale_h
    return np.sqrt(u * u + v * v)


def _csf_filter(x: np.ndarray, response: np.ndarray) -> np.ndarray:
    """``ifft2(ifftshift(fftshift(fft2(x)) .* response))`` (complex, as in MATLAB)."""
    return np.fft.ifft2(np.fft.ifftshift(np.fft.fftshift(np.fft.fft2(x)) * response))


def _gauss31(x: np.ndarray, sigma: float) -> np.ndarray:
    """``filter2(G, x, 'same')`` with Liu's unnormalised 31 x 31 Gaussian
    ``exp(-(x^2+y^2)/(2 sigma^2)) / (2 pi sigma^2)``; x may be complex (filtered part by part)."""
    g = np.exp(-(np.arange(-15, 16, dtype=np.float64) ** 2) / (2.0 * sigma * sigma))
    c = 1.0 / (2.0 * np.pi * sigma * sigma)
    if np.iscomplexobj(x):
        return c * (separable(x.real, g, g, "zero") + 1j * separable(x.imag, g, g, "zero"))
    return c * separable(x, g, g, "zero")


@_mean_over_planes
def chen_blum(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Qcb (VIFB ``Qcb``, Chen & Blum 2009): contrast preservation after contrast-sensitivity
    filtering; per channel, averaged. Range [0, 1]; higher is better.

    Each image is rescaled to 0..255 (``normalize1``), filtered in the frequency domain with the
    DoG CSF ``exp(-(r/15.387)^2) - 0.7622 exp(-(r/1.3456)^2)`` (grid scaled by size/30), local
    contrast is ``|G2 * x / G4 * x - 1|`` (31 x 31 Gaussians, sigma 2 and 4, zero padding) mapped
    by ``C^3 / (C^2 + 1e-4)``; the preservation ratios are weighted by the sources' squared
    contrasts. A grey fused image with colour sources uses their unrounded grey.
    """
    vis_, ir_ = _grey(b, False), _grey(a, False)
    h, w = f.shape
    r = _radial_frequency(h, w, h / 30.0, w / 30.0)
    dog = np.exp(-((r / 15.3870) ** 2)) - 0.7622 * np.exp(-((r / 1.3456) ** 2))

    def contrast(x: np.ndarray) -> np.ndarray:
        y = _csf_filter(_normalize1(x), dog)
        c = np.abs(_gauss31(y, 2.0) / _gauss31(y, 4.0) - 1.0)
        return c**3 / (c**2 + 1e-4)

    c1, c2, cf = contrast(vis_), contrast(ir_), contrast(f)
    with np.errstate(divide="ignore", invalid="ignore"):
        q1 = np.where(c1 < cf, c1 / cf, cf / c1)
        q2 = np.where(c2 < cf, c2 / cf, cf / c2)
        s1, s2 = c1 * c1, c2 * c2
        q = s1 / (s1 + s2) * q1 + s2 / (s1 + s2) * q2
    return float(np.mean(q))


def _block_reduce(x: np.ndarray, size: int = 16) -> np.ndarray:
    """(H, W) -> (ceil(H/size), ceil(W/size), size, size) blocks, zero-padded like ``blkproc``."""
    h, w = x.shape
    hp, wp = -(-h // size) * size, -(-w // size) * size
    pad = np.zeros((hp, wp), dtype=x.dtype)
    pad[:h, :w] = x
    return pad.reshape(hp // size, size, wp // size, size).swapaxes(1, 2)


@_mean_over_planes
def chen_varshney(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Qcv (VIFB ``Qcv``, Chen & Varshney 2007): CSF-filtered differences to each source in
    16 x 16 blocks, weighted by the sources' block edge saliency; per channel, averaged.
    Squared grey levels, >= 0; **lower is better**.

    Images rescaled to 0..255 (``normalize1``); saliency = sum over the block of the Sobel
    magnitude (zero padding) to the power 5; differences filtered with the Mannos-Sakrison CSF
    (grid scaled by size/8) and averaged squared per block (partial blocks zero-padded to
    16 x 16, as ``blkproc``). A grey fused image with colour sources uses their unrounded grey.
    """
    vis_, ir_, fu = _normalize1(_grey(b, False)), _normalize1(_grey(a, False)), _normalize1(f)
    h, w = fu.shape

    def saliency(x: np.ndarray) -> np.ndarray:
        gx, gy = sobel(x, "zero")
        return (_block_reduce(np.sqrt(gx * gx + gy * gy)) ** 5).sum(axis=(2, 3))

    r = _radial_frequency(h, w, h / 8.0, w / 8.0)
    mannos = 2.6 * (0.0192 + 0.144 * r) * np.exp(-((0.144 * r) ** 1.1))

    def distortion(d: np.ndarray) -> np.ndarray:
        return (_block_reduce(_csf_filter(d, mannos)) ** 2).mean(axis=(2, 3))

    l1, l2 = saliency(vis_), saliency(ir_)
    q = np.sum(l1 * distortion(vis_ - fu) + l2 * distortion(ir_ - fu)) / np.sum(l1 + l2)
    return float(np.real(q))  # the imaginary part is rounding noise (~1e-15)


#: Our metric name -> (function, VIFB's name for it in its result files).
VIFB_METRICS: dict[str, tuple[Callable[[np.ndarray, np.ndarray, np.ndarray], float], str]] = {
    "EN": (entropy, "Entropy"),
    "SD": (standard_deviation, "Variance"),
    "SF": (spatial_frequency, "Spatial_frequency"),
    "AG": (average_gradient, "Avg_gradient"),
    "MI": (mutual_information, "Mutinf"),
    "PSNR": (psnr, "Psnr"),
    "RMSE": (rmse, "Rmse"),
    "SSIM": (ssim, "Ssim"),
    "Qabf": (qabf, "Qabf"),
    "CE": (cross_entropy, "Cross_entropy"),
    "EI": (edge_intensity, "Edge_intensity"),
    "Qcb": (chen_blum, "Qcb"),
    "Qcv": (chen_varshney, "Qcv"),
}
