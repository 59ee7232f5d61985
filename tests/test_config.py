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


# ----------------------------------------------------------------------------------------
# Value ranges
# ----------------------------------------------------------------------------------------


def _leaf_fields(cls: type, prefix: str = "") -> dict[str, object]:
    """dotted key -> annotation of every non-dataclass field of the schema."""
    import dataclasses
    import typing

    out: dict[str, object] = {}
    for name, tp in typing.get_type_hints(cls).items():
        if dataclasses.is_dataclass(tp):
            out.update(_leaf_fields(tp, f"{prefix}{name}."))
        else:
            out[prefix + name] = tp
    return out


def test_every_numeric_field_has_a_range_rule():
    from tardal.config import VALUE_RULES

    fields = _leaf_fields(Config)
    numeric = [k for k, tp in fields.items()
               if tp in (int, float) or str(tp).startswith(("tuple[float", "tuple[int"))]
    missing = [k for k in numeric if k not in VALUE_RULES]
    assert not missing, f"add a rule for each of {missing} to VALUE_RULES in tardal/config.py"
    assert sorted(set(VALUE_RULES) - set(fields)) == []  # no rule for a key that does not exist
    assert len(numeric) > 50


def test_defaults_and_shipped_configs_pass_the_range_checks():
    from pathlib import Path

    from tardal.config import check_values

    check_values(Config())
    configs = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))
    assert configs
    for path in configs:
        load_config(path)


@pytest.mark.parametrize(
    "override, expected",
    [
        ("data.batch_size=0", "'data.batch_size': expected an integer >= 1, found 0"),
        ("data.workers=-1", "'data.workers': expected an integer >= 0, found -1"),
        ("train.lr_g=-1", "'train.lr_g': expected a number > 0, found -1.0"),
        ("train.lr_d=0", "'train.lr_d': expected a number > 0, found 0.0"),
        ("train.lr_det=.nan", "'train.lr_det': expected a number > 0, found nan"),
        ("train.lr_g=.inf", "'train.lr_g': expected a number > 0, found inf"),
        ("train.weight_decay=-0.1", "'train.weight_decay': expected a number >= 0, found -0.1"),
        ("train.epochs=0", "'train.epochs': expected an integer >= 1, found 0"),
        ("train.warmup_epochs=-1", "'train.warmup_epochs': expected a number >= 0"),
        ("data.img_size=16", "'data.img_size': expected an integer >= 32, found 16"),
        ("data.augment.hflip=1.5", "'data.augment.hflip': expected a number in [0, 1], found 1.5"),
        ("data.augment.crop=-0.1", "'data.augment.crop': expected a number in [0, 1]"),
        ("data.augment.scale=[1.5,0.5]", "'data.augment.scale': expected two numbers lo, hi with "
                                         "0 < lo <= hi, found [1.5, 0.5]"),
        ("data.augment.scale=[0,1]", "0 < lo <= hi, found [0.0, 1.0]"),
        ("train.lr_final=1.5", "'train.lr_final': expected a number in [0, 1]"),
        ("train.ema_decay=1", "'train.ema_decay': expected a number in [0, 1), found 1.0"),
        ("train.ema_tau=0", "'train.ema_tau': expected a number > 0"),
        ("train.clip_grad=-1", "'train.clip_grad': expected a number >= 0"),
        ("train.momentum=1", "'train.momentum': expected a number in [0, 1)"),
        ("loss.adv=-0.1", "'loss.adv': expected a number >= 0"),
        ("disc.div_p=0", "'disc.div_p': expected a number > 0"),
        ("disc.layers=5", "'disc.layers': expected one of 3, 4, found 5"),
        ("data.synth.num=0", "'data.synth.num': expected an integer >= 1"),
        ("data.synth.width=8", "'data.synth.width': expected an integer >= 16, found 8"),
        ("mask.k=-1", "'mask.k': expected a number >= 0"),
        ("mask.cache=-1", "'mask.cache': expected an integer >= 0"),
        ("detector.conf=2", "'detector.conf': expected a number in [0, 1]"),
        ("train.device=gpu", "'train.device': expected auto, cpu, cuda, cuda:N or mps, found 'gpu'"),
        ("name=../elsewhere", "'name': expected a plain name"),
        ("data.train_split=a/b", "'data.train_split': expected a plain name"),
        ("project=", "'project': expected a non-empty string"),
    ],
)
def test_range_errors_name_key_range_and_value(override, expected):
    cfg = Config()
    before = to_dict(cfg)
    with pytest.raises(ConfigError) as info:
        apply_override(cfg, override)
    assert expected in str(info.value)
    assert to_dict(cfg) == before  # a refused value changes nothing


@pytest.mark.parametrize(
    "override",
    ["data.augment.hflip=0", "data.augment.hflip=1", "train.ema_decay=0", "train.lr_final=0",
     "train.clip_grad=0", "train.warmup_epochs=0", "data.workers=0", "data.img_size=32",
     "data.augment.scale=[1,1]", "train.device=cuda:1", "name=", "disc.layers=4",
     "mask.morph=0", "train.preview=0"],
)
def test_range_edges_are_accepted(override):
    cfg = Config()
    apply_override(cfg, override)


def test_file_values_are_range_checked_and_name_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  batch_size: 0\n")
    with pytest.raises(ConfigError, match=r"c.yaml: config key 'data.batch_size': expected an "
                                          r"integer >= 1, found 0"):
        load_config(path)
    # an override can mend a bad file value; a bad override names no file
    assert load_config(path, ["data.batch_size=2"]).data.batch_size == 2
    with pytest.raises(ConfigError) as info:
        load_config(None, ["train.epochs=0"])
    assert str(info.value).startswith("config key 'train.epochs'")


def test_config_from_dict_checks_values():
    data = to_dict(Config())
    data["train"]["ema_tau"] = -5
    with pytest.raises(ConfigError, match=r"'train.ema_tau': expected a number > 0, found -5.0"):
        config_from_dict(data)


def test_skip_bad_key():
    assert Config().data.skip_bad is False
    assert load_config(None, ["data.skip_bad=true"]).data.skip_bad is True


def test_yaml_syntax_error_is_one_line_with_line_and_column(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("train:\n  epochs: 3\n  mode: [dt\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"config file {path} is not valid YAML: line 4, column 1: expected ','")
    assert "(while parsing a flow sequence started at line 3, column 9)" in msg
