from __future__ import annotations

import pytest

from tardal.config import Config, apply_override, config_from_dict, dump_config, load_config, to_dict
from tardal.errors import ConfigError


def test_defaults_round_trip_through_dict():
    cfg = Config()
    cfg.train.epochs = 7
    again = config_from_dict(to_dict(cfg))
    assert again == cfg
    assert again.train.epochs == 7


def test_yaml_file_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: 3\n  mode: dt\nfusion:\n  dim: 8\n")
    cfg = load_config(path, ["train.lr_g=0.01", "data.augment.scale=[0.5,2]", "train.ema=false"])
    assert cfg.train.epochs == 3 and cfg.train.mode == "dt" and cfg.fusion.dim == 8
    assert cfg.train.lr_g == pytest.approx(0.01)
    assert cfg.data.augment.scale == (0.5, 2.0)
    assert cfg.train.ema is False
    assert "epochs: 3" in dump_config(cfg)


def test_unknown_key_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"unknown config key 'train.epoch'.*'train.epochs'"):
        load_config(None, ["train.epoch=3"])


def test_unknown_key_in_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("fusion:\n  dimm: 8\n")
    with pytest.raises(ConfigError, match=r"bad.yaml.*'fusion.dimm'.*'fusion.dim'"):
        load_config(path)


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.epochs=three", "expected an integer"),
        ("train.epochs=1.5", "expected an integer"),
        ("train.mode=joint", "expected one of"),
        ("train.ema=maybe", "expected true or false"),
        ("data.augment.scale=[1,2,3]", "expected 2 values"),
        ("train", "expected key=value"),
        ("train.epochs.x=1", "has no sub-keys"),
    ],
)
def test_override_type_errors(override, message):
    cfg = Config()
    with pytest.raises(ConfigError, match=message):
        apply_override(cfg, override)


def test_string_override_keeps_text_verbatim():
    cfg = Config()
    apply_override(cfg, "name=007")
    assert cfg.name == "007"
