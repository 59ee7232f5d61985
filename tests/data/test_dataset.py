"""PairedDataset and collate_pairs follow the shared contract; bad input fails clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tardal.config import AugmentConfig
from tardal.data.dataset import PairedDataset, collate_pairs
from tardal.errors import ConfigError, DataError
from tests.data.helpers import write_png


def test_item_contract(make_set) -> None:
    root = make_set(4, 48, 64)
    ds = PairedDataset(root, "train")
    assert len(ds) == 4 and ds.names == ["a", "b"]
    item = ds[1]
    assert set(item) == {"ir", "vis", "boxes_xyxy", "labels", "name", "orig_size", "letterbox",
                         "content"}
    assert item["content"] == (0, 0, 64, 48)
    assert item["ir"].shape == (1, 48, 64) and item["ir"].dtype == torch.float32
    assert item["vis"].shape == (3, 48, 64) and item["vis"].dtype == torch.float32
    assert 0.0 <= float(item["ir"].min()) and float(item["vis"].max()) <= 1.0
    assert item["name"] == "s1" and item["orig_size"] == (48, 64)
    assert item["letterbox"] == (1.0, 0.0, 0.0)
    torch.testing.assert_close(item["boxes_xyxy"], torch.tensor([[5.0, 6.0, 21.0, 30.0]]), atol=1e-3, rtol=0)
    assert item["labels"].dtype == torch.int64 and item["labels"].tolist() == [1]
    # The box lies on the bright target in both images; visible is RGB (R = B = ir, G = ir / 2).
    x1, y1, x2, y2 = (int(v) for v in item["boxes_xyxy"][0].round())
    assert float(item["ir"][0, y1:y2, x1:x2].mean()) == pytest.approx(250 / 255, abs=1e-6)
    torch.testing.assert_close(item["vis"][0], item["ir"][0])
    torch.testing.assert_close(item["vis"][1], torch.floor(item["ir"][0] * 255 / 2) / 255)
    empty = ds[2]  # an empty label file: an image without objects
    assert empty["boxes_xyxy"].shape == (0, 4) and empty["labels"].shape == (0,)


def test_letterbox_item(make_set) -> None:
    root = make_set(2, 48, 64)
    item = PairedDataset(root, "train", img_size=32)[1]
    assert item["ir"].shape == (1, 32, 32) and item["vis"].shape == (3, 32, 32)
    ratio, px, py = item["letterbox"]
    assert ratio == pytest.approx(0.5) and (px, py) == (0.0, 4.0)
    torch.testing.assert_close(item["boxes_xyxy"], torch.tensor([[2.5, 7.0, 10.5, 19.0]]), atol=1e-3, rtol=0)
    assert float(item["ir"][0, 0, 0]) == pytest.approx(114 / 255)
    assert item["orig_size"] == (48, 64)
    assert item["content"] == (0, 4, 32, 24)  # the 64x48 image at ratio 1/2, 4 rows below the top
    other = PairedDataset(root, "train", img_size=32)[0]
    valid = collate_pairs([item, other])["valid"]
    assert valid.shape == (2, 1, 32, 32) and valid[0, 0, 4:28].min() == 1
    assert valid[0, 0, :4].max() == 0 and valid[0, 0, 28:].max() == 0
    # the padding is exactly where valid is 0
    pad = (item["ir"][0] - 114 / 255).abs() < 1e-6
    assert bool(pad[valid[0, 0] == 0].all())


def test_infrared_storage_forms(tmp_path: Path, make_set) -> None:
    root = make_set(2, 32, 32)
    grey = (np.arange(1024) % 256).astype(np.uint8).reshape(32, 32)
    write_png(root / "ir" / "s0.png", np.stack([grey] * 3, axis=2))  # 3 identical planes
    write_png(root / "ir" / "s1.png", grey.astype(np.uint16) * np.uint16(256))  # 16-bit
    ds = PairedDataset(root, "train")
    a, b = ds[0]["ir"], ds[1]["ir"]
    assert a.shape == b.shape == (1, 32, 32)
    torch.testing.assert_close(a[0], torch.from_numpy(grey / 255.0).float())
    torch.testing.assert_close(b[0], torch.from_numpy(grey.astype(np.float64) * 256 / 65535.0).float())


def test_size_mismatch_errors_or_resizes(make_set) -> None:
    root = make_set(2, 48, 64)
    write_png(root / "vi" / "s0.png", np.zeros((24, 32, 3), np.uint8))
    ds = PairedDataset(root, "train")
    with pytest.raises(DataError, match=r"pair 's0': infrared .*ir/s0\.png is 64x48 but visible "
                                        r".*vi/s0\.png is 32x24.*align"):
        ds[0]
    item = PairedDataset(root, "train", align="resize")[0]
    assert item["vis"].shape == (3, 48, 64) and item["ir"].shape == (1, 48, 64)
    with pytest.raises(ConfigError, match="align must be one of"):
        PairedDataset(root, "train", align="crop")


def test_truncated_and_corrupt_images_name_the_file(make_set) -> None:
    root = make_set(3)
    data = (root / "vi" / "s1.png").read_bytes()
    (root / "vi" / "s1.png").write_bytes(data[: len(data) // 2])
    (root / "ir" / "s2.png").write_bytes(b"not an image at all" + b"IEND\xaeB`\x82")
    ds = PairedDataset(root, "train")
    with pytest.raises(DataError, match=r"vi/s1\.png is truncated"):
        ds[1]
    with pytest.raises(DataError, match=r"ir/s2\.png is corrupt or not a supported image"):
        ds[2]
    assert ds[0]["name"] == "s0"


def test_bad_label_fails_at_construction_with_file_and_line(make_set) -> None:
    root = make_set(2)
    (root / "labels" / "s1.txt").write_text("1 0.5 0.5 0.2 0.2\n2 0.5 0.5 0.2 0.2\n")
    with pytest.raises(DataError, match=r"labels/s1\.txt:2: class id 2 out of range \(valid ids: 0\.\.1\)"):
        PairedDataset(root, "train")


def test_missing_partner(make_set) -> None:
    root = make_set(2)
    (root / "ir" / "s1.png").unlink()
    with pytest.raises(DataError, match=r"vi/s1\.png has no infrared partner"):
        PairedDataset(root, "train")


def test_splits_and_stems(make_set) -> None:
    root = make_set(5, splits={"train": ["s0", "s1", "s2"], "val": ["s3"]})
    assert len(PairedDataset(root, "train")) == 3
    assert len(PairedDataset(root, "val")) == 1
    assert len(PairedDataset(root, "test")) == 0  # no test.txt
    assert len(PairedDataset(root, "all")) == 5
    assert [p.stem for p in PairedDataset(root, ["s4", "s0"]).pairs] == ["s4", "s0"]


def test_patch_windows_keep_the_native_scale(make_set) -> None:
    """augment.patch cuts a window of the image as it is: with img_size = patch nothing is
    resized or padded, and the window is a piece of the original at a seeded position."""
    from tardal.data.dataset import read_pair

    root = make_set(3, 48, 64)
    aug = AugmentConfig(hflip=0.0, scale=(1.0, 1.0), crop=1.0, patch=24)
    ds = PairedDataset(root, "train", img_size=24, augment=aug, seed=2)
    starts = set()
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(3):
            item = ds[i]
            assert item["ir"].shape == (1, 24, 24) and item["content"] == (0, 0, 24, 24)
            full, _ = read_pair(ds.pairs[i], ds.align)
            window = item["ir"][0].numpy()
            hits = [(y, x) for y in range(48 - 23) for x in range(64 - 23)
                    if np.allclose(full[y:y + 24, x:x + 24], window, atol=1e-6)]
            assert hits, "the patch is not a native-scale window of the image"
            starts.add((i, hits[0]))
            for box in item["boxes_xyxy"]:  # boxes clipped to the window
                assert float(box.min()) >= 0 and float(box.max()) <= 24
    assert len(starts) > 3  # positions vary with the epoch
    small = PairedDataset(root, "train", img_size=64, augment=AugmentConfig(
        hflip=0.0, scale=(1.0, 1.0), crop=0.0, patch=100), seed=2)[0]
    assert small["content"] == (0, 8, 64, 48)  # a smaller image is kept whole (letterboxed)


def test_augmentation_is_seeded_per_epoch_and_registered(make_set) -> None:
    root = make_set(3, 48, 64)
    aug = AugmentConfig(hflip=0.5, scale=(0.6, 1.4), crop=0.7)
    ds = PairedDataset(root, "train", img_size=64, augment=aug, seed=5)
    first = [ds[i]["ir"] for i in range(3)]
    again = PairedDataset(root, "train", img_size=64, augment=aug, seed=5)
    for i in range(3):
        torch.testing.assert_close(again[i]["ir"], first[i])
    ds.set_epoch(1)
    assert any(not torch.equal(ds[i]["ir"], first[i]) for i in range(3))
    for epoch in range(4):
        ds.set_epoch(epoch)
        for i in range(3):
            item = ds[i]
            assert item["ir"].shape == (1, 64, 64)
            torch.testing.assert_close(item["vis"][0], item["ir"][0])  # still registered
            for box in item["boxes_xyxy"]:
                x1, y1, x2, y2 = (int(v) for v in box.round())
                inner = item["ir"][0, y1 + 1:y2 - 1, x1 + 1:x2 - 1]
                assert float(inner.mean()) > 0.9  # the box still sits on the bright target


def test_collate_variable_box_counts(make_set) -> None:
    root = make_set(3, 48, 64)
    ds = PairedDataset(root, "train", img_size=32)
    batch = collate_pairs([ds[0], ds[1], ds[2]])
    assert batch["ir"].shape == (3, 1, 32, 32) and batch["vis"].shape == (3, 3, 32, 32)
    assert [len(b) for b in batch["boxes_xyxy"]] == [1, 1, 0]
    assert batch["batch_idx"].tolist() == [0.0, 1.0] and batch["batch_idx"].dtype == torch.float32
    assert batch["cls"].tolist() == [[0.0], [1.0]]
    assert batch["bboxes"] is batch["boxes_cxcywh_norm"]
    x1, y1, x2, y2 = batch["boxes_xyxy"][1][0].tolist()
    torch.testing.assert_close(batch["bboxes"][1], torch.tensor(
        [(x1 + x2) / 64, (y1 + y2) / 64, (x2 - x1) / 32, (y2 - y1) / 32]))
    assert batch["name"] == ["s0", "s1", "s2"] and batch["orig_size"][0] == (48, 64)
    empty = collate_pairs([ds[2]])
    assert empty["bboxes"].shape == (0, 4) and empty["cls"].shape == (0, 1)


def test_collate_rejects_mixed_sizes(tmp_path: Path, make_set) -> None:
    a = PairedDataset(make_set(1, 48, 64, name="a"), "train")[0]
    b = PairedDataset(make_set(1, 32, 32, name="b"), "train")[0]
    with pytest.raises(DataError, match="different sizes.*img_size"):
        collate_pairs([a, b])


def test_dataloader_with_workers(make_set) -> None:
    root = make_set(4, 32, 32)
    ds = PairedDataset(root, "train", img_size=32, augment=AugmentConfig())
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2, collate_fn=collate_pairs)
    batches = list(loader)
    serial = [collate_pairs([ds[0], ds[1]]), collate_pairs([ds[2], ds[3]])]
    for got, want in zip(batches, serial):
        torch.testing.assert_close(got["ir"], want["ir"])  # same draws in workers as in-process
        assert got["name"] == want["name"]


def test_exclude_leaves_pairs_out(make_set) -> None:
    root = make_set(5)
    (root / "vi" / "s3.png").write_bytes(b"")  # a broken pair, as --skip-bad would leave out
    ds = PairedDataset(root, "train", exclude={"s3", "s1", "not-in-split"})
    assert len(ds) == 3 and [ds[i]["name"] for i in range(3)] == ["s0", "s2", "s4"]
    assert ds.excluded == ["s1", "s3"]
    assert [p.stem for p in ds.pairs] == ["s0", "s2", "s4"]
    # the labels stay with their pairs
    assert ds[2]["boxes_xyxy"].tolist() == [[8.0, 6.0, 24.0, 30.0]]
    assert len(PairedDataset(root, ["s0", "s1"], exclude=["s1"])) == 1
    assert len(PairedDataset(root, "train", exclude=())) == 5
    with pytest.raises(ConfigError, match="exclude must be a collection of stems"):
        PairedDataset(root, "train", exclude="s1")


def test_cached_images_give_the_same_items(make_set, caplog: pytest.LogCaptureFixture,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_set(6, 32, 40)
    grey = (np.arange(1280) % 256).astype(np.uint8).reshape(32, 40)
    write_png(root / "ir" / "s0.png", np.stack([grey] * 3, axis=2))  # 3 identical planes
    write_png(root / "ir" / "s1.png", grey.astype(np.uint16) * np.uint16(257))  # 16-bit
    colour = np.stack([grey, grey[::-1], grey[:, ::-1]], axis=2)
    write_png(root / "ir" / "s2.png", colour)  # a colour infrared file: its luma
    write_png(root / "vi" / "s3.png", grey)  # a grey visible file: repeated
    aug = AugmentConfig(hflip=0.5, scale=(0.6, 1.4), crop=0.7)
    plain = PairedDataset(root, "train", img_size=32, augment=aug, seed=3)
    cached = PairedDataset(root, "train", img_size=32, augment=aug, seed=3)
    assert cached.cached_bytes == 0 and cached.cache_images(threads=2)
    assert cached.images is not None and len(cached.images) == 6
    assert cached.images[1][0].dtype == np.uint16 and cached.images[0][0].dtype == np.uint8
    assert cached.images[0][0].shape == (32, 40)  # one plane kept of three identical ones
    assert cached.cached_bytes == sum(a.nbytes + b.nbytes for a, b in cached.images)
    for image in (root / "ir" / "s0.png", root / "vi" / "s0.png"):
        image.unlink()  # the cache needs no file any more
    for epoch in (0, 1):
        plain.set_epoch(epoch)
        cached.set_epoch(epoch)
        for i in range(1, 6):
            a, b = plain[i], cached[i]
            for key in ("ir", "vis", "boxes_xyxy"):
                assert torch.equal(a[key], b[key]), (epoch, i, key)
    assert cached[0]["ir"].shape == (1, 32, 32)
    # too big for the memory available: refused with a warning, nothing cached
    import tardal.io

    small = PairedDataset(make_set(3, 32, 32, name="small"), "train")
    monkeypatch.setattr(tardal.io, "available_memory", lambda: 10_000)
    assert not small.cache_images()
    assert small.images is None and "reading them from disk instead" in caplog.text
