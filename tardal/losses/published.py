"""The training objectives of the published baseline fusion methods, as pure functions.

Every ``*_loss`` function returns a dict of named, unweighted terms plus the weighted total under
``"loss"``; the weights are keyword arguments whose defaults are the published ones. Nothing here
touches an optimiser or a model's mode: a training step composes these with its own networks.
Soft random labels (LSGAN) are drawn from the ``gen: torch.Generator | None`` argument, so tests
can seed them.

Building blocks (all on (B,C,H,W) float tensors, same size out):

* :func:`laplacian`: the 3x3 Laplacian ``[[0,1,0],[1,-4,1],[0,1,0]]``, replicate padding;
* :func:`gaussian3`, :func:`blur_residual`: MFF-GAN's weight-free focus measure
  ``|I - G*(G*I)|`` with ``G`` a 3x3 Gaussian (sigma 1.5);
* :func:`lsgan_target`, :func:`lsgan_term`: least-squares GAN terms against labels drawn from
  ``U[low, high]`` (FusionGAN's soft labels: real ``U[0.7, 1.2]``, fake ``U[0, 0.3]``);
* :func:`total_variation`: anisotropic TV, ``mean|dx| + mean|dy|``;
* :func:`gaussian_pyramid`, :func:`u2fusion_information`, :func:`u2fusion_weights`: U2Fusion's
  adaptive weights, computed weight-free (see :func:`u2fusion_information`).

Per method: :func:`densefuse_loss`, :func:`fusiongan_g_loss` / :func:`fusiongan_d_loss`,
:func:`pmgi_loss`, :func:`ufgan_g_loss` / :func:`ufgan_d_loss`, :func:`u2fusion_loss`,
:func:`mffgan_masks` / :func:`mffgan_d_inputs` / :func:`mffgan_g_loss` / :func:`mffgan_d_loss`,
:func:`mfifgan_g_loss` / :func:`mfifgan_d_loss`, :func:`fusegan_g_loss` / :func:`fusegan_d_loss`.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from tardal.losses.adversarial import critic_loss
from tardal.losses.ssim import gaussian_window, ssim

Terms = dict[str, torch.Tensor]

#: FusionGAN's soft labels: real in U[0.7, 1.2], fake in U[0, 0.3].
REAL_LABELS = (0.7, 1.2)
FAKE_LABELS = (0.0, 0.3)

_LAPLACIAN = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))


# --------------------------------------------------------------------------- building blocks
def depthwise3x3(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Correlate every plane of (B,C,H,W) ``x`` with the (3,3) ``kernel``, replicate-padded."""
    c = x.shape[1]
    weight = kernel.to(dtype=x.dtype, device=x.device).view(1, 1, 3, 3).expand(c, 1, 3, 3)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), weight, groups=c)


def laplacian(x: torch.Tensor) -> torch.Tensor:
    """3x3 Laplacian ``[[0,1,0],[1,-4,1],[0,1,0]]`` of (B,C,H,W) ``x``; same shape, replicate
    padding (a constant image gives exactly 0 everywhere, borders included)."""
    return depthwise3x3(x, torch.tensor(_LAPLACIAN))


def gaussian3(x: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    """3x3 normalised Gaussian blur of (B,C,H,W) ``x`` (replicate padding); same shape."""
    g = gaussian_window(3, sigma, dtype=torch.float64)
    return depthwise3x3(x, torch.outer(g, g))


def blur_residual(x: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    """MFF-GAN's focus measure ``|x - G*(G*x)|`` (G: 3x3 Gaussian); (B,C,H,W) >= 0.

    In-focus texture loses more to the blur than defocused texture, so the residual is larger."""
    return (x - gaussian3(gaussian3(x, sigma), sigma)).abs()


def lsgan_target(like: torch.Tensor, low: float, high: float,
                 gen: torch.Generator | None = None) -> torch.Tensor:
    """Labels shaped like ``like``, drawn from ``U[low, high]`` (constant when low == high)."""
    u = torch.rand(like.shape, dtype=like.dtype, device=like.device, generator=gen)
    return low + (high - low) * u


def lsgan_term(score: torch.Tensor, low: float, high: float,
               gen: torch.Generator | None = None) -> torch.Tensor:
    """``MSE(score, U[low, high])``: the least-squares GAN term; scalar."""
    return F.mse_loss(score, lsgan_target(score, low, high, gen))


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation ``mean|x[:, :, :, 1:] - x[..., :-1]| + mean|dy|``; scalar.

    A vertical step of height 1 in an H x W image gives ``1 / (W - 1)``.
    """
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs().mean() if x.shape[-1] > 1 else x.new_zeros(())
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().mean() if x.shape[-2] > 1 else x.new_zeros(())
    return dx + dy


def gaussian_pyramid(x: torch.Tensor, levels: int = 5) -> list[torch.Tensor]:
    """``[x, down(x), ...]``: ``levels`` images, each a 3x3 Gaussian blur then 2x decimation of the
    previous one; stops early when a side would drop below 2 pixels."""
    out = [x]
    for _ in range(levels - 1):
        if min(out[-1].shape[-2:]) < 4:
            break
        out.append(gaussian3(out[-1], 1.0)[..., ::2, ::2])
    return out


def u2fusion_information(x: torch.Tensor, levels: int = 5) -> torch.Tensor:
    """Weight-free stand-in for U2Fusion's information measure; (B,C,H,W) -> (B,).

    U2Fusion measures the information of an image by the gradient energy of its ImageNet VGG16
    features at five stages, ``g = mean_j mean(|Lap(phi_j(I))|^2)``. Those weights cannot be
    downloaded here, so the five feature stages are replaced by the five levels of a Gaussian
    pyramid of the image itself: ``g = mean_j mean(|Lap(G_j(I))|^2)`` over levels j = 0..4. It is
    0 for a constant image and grows with texture at every scale.
    """
    pyramid = gaussian_pyramid(x, levels)
    per_level = [laplacian(level).pow(2).flatten(1).mean(1) for level in pyramid]
    return torch.stack(per_level, dim=1).mean(1)


def u2fusion_weights(a: torch.Tensor, b: torch.Tensor, c: float = 0.01
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """U2Fusion's adaptive weights ``(w_a, w_b) = softmax(g_a / c, g_b / c)``, each (B,).

    ``a, b: (B,1,H,W)`` in [0,1]; ``g`` is :func:`u2fusion_information`; ``c`` scales the
    measure (the original's ``c`` matched VGG feature magnitudes; 0.01 suits [0,1] images, where a
    strongly textured image has ``g`` of order 0.01-0.1). No gradient flows into the weights.
    """
    with torch.no_grad():
        g = torch.stack((u2fusion_information(a), u2fusion_information(b)), dim=1) / c
        w = torch.softmax(g, dim=1)
    return w[:, 0], w[:, 1]


def _mse_per_image(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x - y).pow(2).flatten(1).mean(1)


# --------------------------------------------------------------------------- infrared-visible
def densefuse_loss(out: torch.Tensor, target: torch.Tensor, lam: float = 100.0) -> Terms:
    """DenseFuse's auto-encoder objective: ``pixel + lam * ssim``.

    ``out``: the reconstruction (B,1,H,W); ``target``: the input image (B,1,H,W) in [0,1].
    Terms: ``pixel = MSE(out, target)``, ``ssim = 1 - SSIM(out, target)`` (batch mean).
    """
    pixel = F.mse_loss(out, target)
    s = 1.0 - ssim(out, target).mean()
    return {"pixel": pixel, "ssim": s, "loss": pixel + lam * s}


def fusiongan_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor,
                     gen: torch.Generator | None = None) -> Terms:
    """LSGAN discriminator loss with soft labels: ``MSE(D(real), U[0.7,1.2]) +
    MSE(D(fake), U[0,0.3])``. ``d_real``/``d_fake``: (B,) or (B,1,h,w) scores; ``d_fake`` must
    come from a generator output detached from its graph."""
    real = lsgan_term(d_real, *REAL_LABELS, gen)
    fake = lsgan_term(d_fake, *FAKE_LABELS, gen)
    return {"real": real, "fake": fake, "loss": real + fake}


def fusiongan_g_loss(d_fake: torch.Tensor, fused: torch.Tensor, ir: torch.Tensor,
                     vis: torch.Tensor, gen: torch.Generator | None = None, *,
                     content: float = 100.0, xi: float = 5.0) -> Terms:
    """FusionGAN generator loss ``adv + content * (intensity + xi * gradient)``.

    ``adv = MSE(D(fused), U[0.7,1.2])``; ``intensity = MSE(fused, ir)``;
    ``gradient = MSE(Lap fused, Lap vis)``. Images (B,1,H,W) in [0,1].
    """
    adv = lsgan_term(d_fake, *REAL_LABELS, gen)
    intensity = F.mse_loss(fused, ir)
    gradient = F.mse_loss(laplacian(fused), laplacian(vis))
    return {"adv": adv, "intensity": intensity, "gradient": gradient,
            "loss": adv + content * (intensity + xi * gradient)}


def pmgi_loss(f: torch.Tensor, ir: torch.Tensor, vis: torch.Tensor, *, scale: float = 100.0,
              w_int_vis: float = 0.3, w_grad_vis: float = 5.0, w_grad_ir: float = 4.0) -> Terms:
    """PMGI: ``100 (MSE(f, ir) + 0.3 MSE(f, vis) + 5 MSE(Lap f, Lap vis) + 4 MSE(Lap f, Lap ir))``.

    Images (B,1,H,W) in [0,1]; terms ``int_ir``, ``int_vis``, ``grad_vis``, ``grad_ir``.
    """
    lf = laplacian(f)
    t = {
        "int_ir": F.mse_loss(f, ir),
        "int_vis": F.mse_loss(f, vis),
        "grad_vis": F.mse_loss(lf, laplacian(vis)),
        "grad_ir": F.mse_loss(lf, laplacian(ir)),
    }
    t["loss"] = scale * (t["int_ir"] + w_int_vis * t["int_vis"] + w_grad_vis * t["grad_vis"]
                         + w_grad_ir * t["grad_ir"])
    return t


def ufgan_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor,
                 gen: torch.Generator | None = None) -> Terms:
    """UFGAN's discriminator loss: FusionGAN's soft-label LSGAN terms (:func:`fusiongan_d_loss`).

    The published code trained the discriminator on a generator output that was not detached; the
    caller must pass scores of ``fused.detach()``."""
    return fusiongan_d_loss(d_real, d_fake, gen)


def ufgan_g_loss(d_fake: torch.Tensor, fused: torch.Tensor, ir: torch.Tensor, vis: torch.Tensor,
                 gen: torch.Generator | None = None, *, content: float = 100.0, xi: float = 5.0,
                 structure: float = 300.0, ssim_vis: float = 5.0, tv: float = 1.0) -> Terms:
    """UFGAN generator loss::

        adv + 100 (intensity + 5 gradient) + 300 (ssim_ir + 5 ssim_vis) + tv_weight * tv

    ``adv = MSE(D(f), U[0.7,1.2])``, ``intensity = MSE(f, ir)``, ``gradient = MSE(Lap f, Lap vis)``
    ("mean L2"), ``ssim_ir = 1 - SSIM(f, ir)``, ``ssim_vis = 1 - SSIM(f, vis)``,
    ``tv = total_variation(f)``. The TV weight is not published; 1.0 keeps it a light smoother.
    """
    t = fusiongan_g_loss(d_fake, fused, ir, vis, gen, content=content, xi=xi)
    t["ssim_ir"] = 1.0 - ssim(fused, ir).mean()
    t["ssim_vis"] = 1.0 - ssim(fused, vis).mean()
    t["tv"] = total_variation(fused)
    t["loss"] = t["loss"] + structure * (t["ssim_ir"] + ssim_vis * t["ssim_vis"]) + tv * t["tv"]
    return t


def u2fusion_loss(f: torch.Tensor, a: torch.Tensor, b: torch.Tensor, w_a: torch.Tensor,
                  w_b: torch.Tensor, *, alpha: float = 20.0) -> Terms:
    """U2Fusion: ``w_a (1 - SSIM(a,f)) + w_b (1 - SSIM(b,f)) + alpha (w_a MSE(f,a) + w_b MSE(f,b))``.

    ``f, a, b``: (B,1,H,W) in [0,1]; ``w_a, w_b``: (B,) weights (:func:`u2fusion_weights`).
    Terms (batch means): ``ssim`` (the weighted SSIM part), ``mse`` (the weighted MSE part).
    """
    s = (w_a * (1.0 - ssim(a, f)) + w_b * (1.0 - ssim(b, f))).mean()
    m = (w_a * _mse_per_image(f, a) + w_b * _mse_per_image(f, b)).mean()
    return {"ssim": s, "mse": m, "loss": s + alpha * m}


# --------------------------------------------------------------------------- multi-focus
def mffgan_masks(a: torch.Tensor, b: torch.Tensor, sigma: float = 1.5
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """MFF-GAN's weight-free decision: ``M_a = 1`` where ``blur_residual(a) > blur_residual(b)``,
    else 0; ``M_b = 1 - M_a``. (B,1,H,W) inputs -> two (B,1,H,W) float maps in {0,1}."""
    m_a = (blur_residual(a, sigma) > blur_residual(b, sigma)).to(a.dtype)
    return m_a, 1.0 - m_a


def mffgan_d_inputs(f: torch.Tensor, a: torch.Tensor, b: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """The discriminator's samples: ``real = max(|Lap a|, |Lap b|)``, ``fake = |Lap f|``;
    each (B,1,H,W) >= 0 (``real`` carries no gradient)."""
    real = torch.maximum(laplacian(a).abs(), laplacian(b).abs()).detach()
    return real, laplacian(f).abs()


def mffgan_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor,
                  gen: torch.Generator | None = None) -> Terms:
    """MFF-GAN's discriminator loss: the FusionGAN soft-label LSGAN terms."""
    return fusiongan_d_loss(d_real, d_fake, gen)


def mffgan_g_loss(d_fake: torch.Tensor, f: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                  gen: torch.Generator | None = None, *, content: float = 10.0,
                  xi: float = 5.0) -> Terms:
    """MFF-GAN generator loss ``adv + 10 (intensity + 5 gradient)``.

    With ``(M_a, M_b) = mffgan_masks(a, b)``:
    ``intensity = mean(M_a (f-a)^2) + mean(M_b (f-b)^2)``,
    ``gradient`` the same on the Laplacians, ``adv = MSE(D(|Lap f|), U[0.7,1.2])``.
    """
    m_a, m_b = mffgan_masks(a, b)
    lf, la, lb = laplacian(f), laplacian(a), laplacian(b)
    intensity = (m_a * (f - a).pow(2)).mean() + (m_b * (f - b).pow(2)).mean()
    gradient = (m_a * (lf - la).pow(2)).mean() + (m_b * (lf - lb).pow(2)).mean()
    adv = lsgan_term(d_fake, *REAL_LABELS, gen)
    return {"adv": adv, "intensity": intensity, "gradient": gradient,
            "loss": adv + content * (intensity + xi * gradient)}


def mfifgan_d_loss(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                   fake: torch.Tensor, gen: torch.Generator | None = None, *,
                   lam: float = 10.0) -> Terms:
    """MFIF-GAN critic loss, WGAN-GP: ``E[D(fake)] - E[D(real)] + lam * E[(||grad|| - 1)^2]``.

    ``real = cat(a, b, target_map)``, ``fake = cat(a, b, predicted_map)`` (B,3,H,W); ``fake`` is
    detached here. Terms ``wasserstein``, ``penalty`` (and detached ``real``/``fake`` scores).
    """
    t = critic_loss(critic, real, fake, penalty="gp", lam=lam, generator=gen)
    t["loss"] = t["wasserstein"] + t["penalty"]
    return t


def mfifgan_g_loss(d_fake: torch.Tensor, focus: torch.Tensor, target: torch.Tensor, *,
                   l1: float = 10.0) -> Terms:
    """MFIF-GAN generator loss ``-E[D(fake)] + 10 * L1(map, target)``.

    ``focus``: predicted map (B,1,H,W) in [0,1]; ``target``: the true region mask (B,1,H,W).
    """
    adv = -d_fake.mean()
    dist = F.l1_loss(focus, target)
    return {"adv": adv, "l1": dist, "loss": adv + l1 * dist}


def fusegan_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor,
                   gen: torch.Generator | None = None) -> Terms:
    """FuseGAN's PatchGAN discriminator loss, LSGAN with labels 1 (real) and 0 (fake):
    ``MSE(D(a, b, target), 1) + MSE(D(a, b, map), 0)``; scores (B,1,h,w)."""
    real = lsgan_term(d_real, 1.0, 1.0, gen)
    fake = lsgan_term(d_fake, 0.0, 0.0, gen)
    return {"real": real, "fake": fake, "loss": real + fake}


def fusegan_g_loss(d_fake: torch.Tensor, focus: torch.Tensor, target: torch.Tensor, *,
                   l1: float = 100.0) -> Terms:
    """FuseGAN generator loss ``MSE(D(a, b, map), 1) + 100 * L1(map, target)``.

    The paper pairs the LSGAN term with a map-distance term; the weight 100 is the conditional-GAN
    (pix2pix) choice it follows.
    """
    adv = lsgan_term(d_fake, 1.0, 1.0)
    dist = F.l1_loss(focus, target)
    return {"adv": adv, "l1": dist, "loss": adv + l1 * dist}


# --------------------------------------------------------------------------- thin modules
class Laplacian(nn.Module):
    """Module form of :func:`laplacian`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return laplacian(x)


class BlurResidual(nn.Module):
    """Module form of :func:`blur_residual` (stores ``sigma``)."""

    def __init__(self, sigma: float = 1.5) -> None:
        super().__init__()
        self.sigma = sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return blur_residual(x, self.sigma)


class U2FusionWeights(nn.Module):
    """Module form of :func:`u2fusion_weights` (stores ``c``)."""

    def __init__(self, c: float = 0.01) -> None:
        super().__init__()
        self.c = c

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return u2fusion_weights(a, b, self.c)
