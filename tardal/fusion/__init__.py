"""Fusion methods: the TarDAL generator and classical front-ends, in one registry.

    from tardal.fusion import FUSION, build_fusion
    net = build_fusion(cfg.fusion)          # or FUSION.build("mean")
    fused = net(ir, vis_y)                  # (B,1,H,W) in [0,1] -> (B,1,H,W) in [0,1]

Registered names: ``tardal`` (the learned generator G), ``mean``, ``max`` and ``laplacian``;
the published baselines ``densefuse``, ``fusiongan``, ``pmgi``, ``ufgan``, ``u2fusion``
(infrared-visible) and ``mffgan``, ``mfifgan``, ``fusegan`` (multi-focus).
"""

from tardal.fusion.registry import FUSION, build_fusion
from tardal.fusion import classical as _classical  # noqa: F401  (registers mean/max/laplacian)
from tardal.fusion.generator import TarDALGenerator
from tardal.fusion import (  # noqa: F401  (register the published baselines)
    densefuse as _densefuse,
    fusegan as _fusegan,
    fusiongan as _fusiongan,
    mffgan as _mffgan,
    mfifgan as _mfifgan,
    pmgi as _pmgi,
    u2fusion as _u2fusion,
    ufgan as _ufgan,
)
from tardal.fusion.loading import load_fusion

__all__ = ["FUSION", "build_fusion", "TarDALGenerator", "load_fusion"]
