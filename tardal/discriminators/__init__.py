"""Discriminators (Wasserstein critics) of TarDAL, in one registry.

    from tardal.discriminators import DISCRIMINATORS, build_discriminator
    d_t = build_discriminator("target", cfg.disc)
    score = d_t(d_t.view(u, m))       # (B,) one score per image

``target`` judges intensity inside the target mask (input ``x * m``), ``detail`` judges texture in
the background (input ``sobel(x) * (1 - m)``). Each discriminator owns its ``view`` so real and
fake samples are always built the same way.
"""

from tardal.discriminators.critic import (
    DISCRIMINATORS,
    Critic,
    DetailDiscriminator,
    TargetDiscriminator,
    build_discriminator,
)

__all__ = ["DISCRIMINATORS", "Critic", "TargetDiscriminator", "DetailDiscriminator",
           "build_discriminator"]
