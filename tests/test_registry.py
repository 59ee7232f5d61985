from __future__ import annotations

import pytest

from tardal.errors import UnknownNameError
from tardal.registry import Registry


def test_register_build_and_suggest():
    reg = Registry("widget")

    @reg.register("densefuse")
    def make(x=1):
        return ("dense", x)

    reg.register("fusiongan")(lambda: "gan")
    assert reg.build("densefuse", x=3) == ("dense", 3)
    assert reg.names() == ["densefuse", "fusiongan"]
    with pytest.raises(UnknownNameError, match=r"unknown widget 'densfuse'.*'densefuse'.*Valid names: densefuse, fusiongan"):
        reg.get("densfuse")
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("densefuse")(make)
