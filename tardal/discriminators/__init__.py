"""Discriminators (Wasserstein critics) of TarDAL, in one registry.

    from tardal.discriminators import DISCRIMINATORS, build_discriminator
    d_t = build_discriminator("target", cfg.disc)
    score = d_t(d_t.view(u, m))       # (B,) one score per image

``target`` judges intensity inside the target mask (input ``x * m``), ``detail`` judges texture in
the background (input ``sobel(x) * (1 - m)``). Each discriminator owns its ``view`` so real and
fake samples are always built the same way.

The published baselines' discriminators (:mod:`tardal.discriminators.published`) register here
too: ``fusiongan``, ``mffgan``, ``ufgan`` and ``patchgan``. They judge whatever sample the
method's objective builds (see :mod:`tardal.losses.published`) and have no ``view``.
"""

from tardal.discriminators.critic import (
    DISCRIMINATORS,
    Critic,
    DetailDiscriminator,
    TargetDiscriminator,
    build_discriminator,
)
from tardal.discriminators.published import (
    FusionGANDiscriminator,
    MFFGANDiscriminator,
    PatchGANDiscriminator,
    UFGANDiscriminator,
)

__all__ = ["DISCRIMINATORS", "Critic", "TargetDiscriminator", "DetailDiscriminator",
           "build_discriminator", "FusionGANDiscriminator", "MFFGANDiscriminator",
           "UFGANDiscriminator", "PatchGANDiscriminator"]
