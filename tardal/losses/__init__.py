"""Losses: pure functions with thin ``nn.Module`` wrappers.

* :mod:`~tardal.losses.ssim`: SSIM / MS-SSIM and the structural term ``L_ssim``;
* :mod:`~tardal.losses.sdw`: saliency-degree weights and the pixel term ``L_pixel``;
* :mod:`~tardal.losses.gradient`: Sobel gradient magnitude;
* :mod:`~tardal.losses.adversarial`: critic loss with WGAN-div / WGAN-GP penalty, generator term;
* :mod:`~tardal.losses.criterion`: the fusion criterion and the single weighting point.
"""

from tardal.losses.adversarial import (
    CriticLoss,
    critic_loss,
    generator_adversarial,
    gradient_penalty,
    wgan_div_penalty,
)
from tardal.losses.criterion import (
    FusionCriterion,
    NonFiniteLossError,
    as_floats,
    content_weights,
    fusion_weights,
    weighted_total,
)
from tardal.losses.gradient import SobelMagnitude, sobel_magnitude
from tardal.losses.sdw import SDWPixelLoss, saliency_map, sdw_pixel_loss, sdw_weights
from tardal.losses.ssim import SSIMLoss, ms_ssim, ssim, ssim_term

__all__ = [
    "CriticLoss", "critic_loss", "generator_adversarial", "gradient_penalty", "wgan_div_penalty",
    "FusionCriterion", "NonFiniteLossError", "as_floats", "content_weights", "fusion_weights",
    "weighted_total", "SobelMagnitude", "sobel_magnitude", "SDWPixelLoss", "saliency_map",
    "sdw_pixel_loss", "sdw_weights", "SSIMLoss", "ms_ssim", "ssim", "ssim_term",
]
