"""`tardal data import | check | synth` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tardal.cli import main
from tests.data.helpers import scene, voc_xml, write_png


def make_pairs(root: Path, n: int = 5) -> None:
    for i in range(n):
        ir, vis = scene(24, 32, [], seed=i)
        write_png(root / "ir" / f"p{i}.png", ir)
        write_png(root / "vi" / f"p{i}.png", vis)


@pytest.mark.parametrize("argv", [
    ["data", "--help"], ["data", "import", "--help"], ["data", "import", "m3fd", "--help"],
    ["data", "import", "llvip", "--help"], ["data", "import", "msrs", "--help"],
    ["data", "import", "pairs", "--help"], ["data", "check", "--help"], ["data", "synth", "--help"],
])
def test_help_has_examples(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "tardal data" in out


def test_msrs_help_mentions_label_folder(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["data", "import", "msrs", "--help"])
    assert "--labels FOLDER" in capsys.readouterr().out


def test_import_then_check(tmp_path: Path, capsys) -> None:
    make_pairs(tmp_path / "src")
    out = tmp_path / "out"
    rc = main(["data", "import", "pairs", str(tmp_path / "src"), "--out", str(out),
               "--seed", "3", "--split", "0.6,0.2,0.2", "--copy"])
    text = capsys.readouterr().out
    assert rc == 0 and "imported 5 pairs (pairs)" in text and "train 3, val 1, test 1" in text
    assert (out / "ir" / "p0.png").is_file()
    rc = main(["data", "check", str(out), "--json", str(tmp_path / "r.json")])
    text = capsys.readouterr().out
    assert rc == 0 and "pairs: 5 (train 3, val 1, test 1" in text and "no problems found" in text
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["ok"] and report["pairs"] == 5 and report["image_sizes"] == {"32x24": 5}


def test_check_reports_problems_with_exit_2(tmp_path: Path, capsys) -> None:
    make_pairs(tmp_path / "src")
    out = tmp_path / "out"
    assert main(["data", "import", "pairs", str(tmp_path / "src"), "--out", str(out), "--copy"]) == 0
    (out / "vi" / "p2.png").write_bytes(b"")
    capsys.readouterr()
    rc = main(["data", "check", str(out)])
    captured = capsys.readouterr()
    assert rc == 2
    assert "PROBLEMS: 1" in captured.out
    assert "tardal data: error: 1 problem(s)" in captured.err and "vi/p2.png is empty" in captured.err


def test_import_errors_exit_2(tmp_path: Path, capsys) -> None:
    src = tmp_path / "src"
    make_pairs(src, 2)
    rc = main(["data", "import", "pairs", str(src), "--out", str(tmp_path / "o"), "--split", "0.5,0.6"])
    assert rc == 2 and "fractions must be >= 0 and sum to 1" in capsys.readouterr().err
    # an M3FD tree whose XML has an unknown class
    m3fd = tmp_path / "m3fd"
    make_pairs(m3fd, 1)
    (m3fd / "ir").rename(m3fd / "Ir")
    (m3fd / "vi").rename(m3fd / "Vis")
    (m3fd / "Annotation").mkdir()
    (m3fd / "Annotation" / "p0.xml").write_text(voc_xml("p0.png", (32, 24), [("Dog", (1, 1, 5, 5))]))
    rc = main(["data", "import", "m3fd", str(m3fd), "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert rc == 2 and "unknown class 'Dog'" in err and "known classes: People, Car" in err
    assert not (tmp_path / "m").exists()


def test_skip_bad_flag(tmp_path: Path, capsys) -> None:
    make_pairs(tmp_path / "src", 3)
    (tmp_path / "src" / "vi" / "p1.png").unlink()
    rc = main(["data", "import", "pairs", str(tmp_path / "src"), "--out", str(tmp_path / "a")])
    assert rc == 2 and "ir/p1.png has no visible partner" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
    rc = main(["data", "import", "pairs", str(tmp_path / "src"), "--out", str(tmp_path / "b"),
               "--skip-bad"])
    out = capsys.readouterr().out
    assert rc == 0 and "imported 2 pairs" in out and "left out 1 pair(s)" in out


def test_synth_calls_the_generator(tmp_path: Path, monkeypatch, capsys) -> None:
    import tardal.data.synth as synth

    calls = []

    def fake_generate(out, num, width=320, height=256, seed=0, split=(0.7, 0.15, 0.15), overwrite=False):
        calls.append((Path(out), num, width, height, seed, overwrite))
        return Path(out)

    monkeypatch.setattr(synth, "generate", fake_generate)
    rc = main(["data", "synth", "--out", str(tmp_path / "s"), "--num", "12", "--size", "48x32",
               "--seed", "7", "--overwrite"])
    assert rc == 0 and calls == [(tmp_path / "s", 12, 48, 32, 7, True)]
    assert "wrote 12 synthetic pairs (48x32, seed 7)" in capsys.readouterr().out
    rc = main(["data", "synth", "--out", str(tmp_path / "s"), "--size", "48by32"])
    assert rc == 2 and "expected WIDTHxHEIGHT" in capsys.readouterr().err
    rc = main(["data", "synth", "--out", str(tmp_path / "s"), "--num", "0"])
    assert rc == 2 and "--num must be positive" in capsys.readouterr().err


def make_m3fd_tree(root: Path, n: int) -> None:
    make_pairs(root, n)
    (root / "ir").rename(root / "Ir")
    (root / "vi").rename(root / "Vis")
    (root / "Annotation").mkdir()
    for i in range(n):
        (root / "Annotation" / f"p{i}.xml").write_text(voc_xml(f"p{i}.png", (32, 24), [("car", (1, 1, 9, 9))]))


def test_m3fd_split_options(tmp_path: Path, capsys) -> None:
    src = tmp_path / "m3fd"
    make_m3fd_tree(src, 4)
    with pytest.raises(SystemExit):
        main(["data", "import", "m3fd", "--help"])
    text = capsys.readouterr().out
    assert "--split-file DIR_OR_FILE" in text and "--random-split" in text
    # the shipped split lists other stems: an error naming the split file
    rc = main(["data", "import", "m3fd", str(src), "--out", str(tmp_path / "a")])
    assert rc == 2 and "data/m3fd/train.txt are not in the source" in capsys.readouterr().err
    rc = main(["data", "import", "m3fd", str(src), "--out", str(tmp_path / "b"), "--split",
               "0.5,0.25,0.25"])
    assert rc == 2 and "unless --random-split is given" in capsys.readouterr().err
    rc = main(["data", "import", "m3fd", str(src), "--out", str(tmp_path / "c"), "--random-split",
               "--split", "0.5,0.25,0.25", "--seed", "1"])
    assert rc == 0 and "train 2, val 1, test 1" in capsys.readouterr().out
    (tmp_path / "train.txt").write_text("p0\np1\np2\n")
    (tmp_path / "test.txt").write_text("p3\n")
    rc = main(["data", "import", "m3fd", str(src), "--out", str(tmp_path / "d"), "--split-file",
               str(tmp_path / "train.txt"), str(tmp_path / "test.txt")])
    out = capsys.readouterr().out
    assert rc == 0 and "train 3, val 0, test 1" in out and "split: published split" in out
    assert (tmp_path / "d" / "meta" / "test.txt").read_text() == "p3\n"
    rc = main(["data", "import", "m3fd", str(src), "--out", str(tmp_path / "e"), "--split-file",
               str(tmp_path / "train.txt"), "--random-split"])
    assert rc == 2 and "not both" in capsys.readouterr().err
    # pairs take a published split too; a missing pair is an error unless --skip-bad
    rc = main(["data", "import", "pairs", str(tmp_path / "m3fd"), "--out", str(tmp_path / "f"),
               "--split-file", str(tmp_path / "test.txt")])
    assert rc == 2 and "3 pair(s) of the source are in no split file" in capsys.readouterr().err
