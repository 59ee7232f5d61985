"""The self-contained HTML report: content, embedded pictures, no links, and a headless render."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from tardal.evaluation import evaluate_detections
from tardal.evaluation.html import pr_curves, write_eval_report, write_html_report

NAMES = ["Car", "People"]


def _records() -> tuple[list[dict], list[dict], list[dict]]:
    """Ground truth of 3 images, a good run (every box found) and a poor one (half found, and
    a false positive scored above the true ones)."""
    gts, good, poor = [], [], []
    for i in range(3):
        boxes = np.array([[10, 10, 30, 30], [40, 40, 60, 70]], np.float32) + i
        labels = np.array([0, 1])
        gts.append({"image_id": f"im{i}", "boxes_xyxy": boxes, "labels": labels})
        good.append({"image_id": f"im{i}", "boxes_xyxy": boxes, "labels": labels,
                     "scores": np.array([0.9, 0.8])})
        poor.append({"image_id": f"im{i}", "boxes_xyxy": np.array([boxes[0], [70, 5, 90, 20]]),
                     "labels": np.array([0, 1]), "scores": np.array([0.5, 0.9])})
    return gts, good, poor


def _png(path: Path, colour: tuple[int, int, int]) -> Path:
    cv2.imwrite(str(path), np.full((20, 30, 3), colour, np.uint8))
    return path


@pytest.fixture
def report(tmp_path: Path) -> tuple[Path, dict]:
    gts, good, poor = _records()
    results = {"ct": evaluate_detections(good, gts, NAMES),
               "vis": evaluate_detections(poor, gts, NAMES)}
    results["ct"]["pr"] = pr_curves(good, gts, NAMES)
    training = {"ct": _png(tmp_path / "ct_results.png", (0, 0, 255)),
                "vis": tmp_path / "missing.png"}  # left out: no such file
    panels = [_png(tmp_path / "a.png", (255, 0, 0)), _png(tmp_path / "b.png", (0, 255, 0))]
    out = write_html_report(tmp_path / "r" / "report.html", "Demo <ct> & vis", results, NAMES,
                            intro="two runs", training=training, panels=panels)
    return out, results


def test_report_content(report: tuple[Path, dict]) -> None:
    out, results = report
    text = out.read_text()
    assert results["ct"]["AP50"] == pytest.approx(1.0)
    assert results["vis"]["AP50"] == pytest.approx(0.5, abs=0.01)  # Car found, People not
    for heading in ("<h1>Demo &lt;ct&gt; &amp; vis</h1>", "<h2>Comparison</h2>",
                    "<h2>Per-class AP</h2>", "<h2>Precision-recall</h2>",
                    "<h2>Training curves</h2>", "<h2>Panels</h2>", "<h3>ct</h3>", "<h3>vis</h3>"):
        assert heading in text, heading
    comparison = text.split("<h2>Comparison</h2>")[1].split("<h2>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", comparison)
    cells = [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r) for r in rows]
    assert cells[0][:3] == ["run", "AP", "AP50"] and cells[0][-2:] == ["AP50 Car", "AP50 People"]
    by_run = {c[0]: c for c in cells[1:]}
    assert set(by_run) == {"ct", "vis"}
    assert by_run["ct"][2] == "1.000" and by_run["ct"][-1] == "1.000"
    assert by_run["vis"][2] == f"{results['vis']['AP50']:.3f}"
    assert by_run["vis"][-2] == "1.000" and by_run["vis"][-1] == "0.000"
    per_class = text.split("<h3>vis</h3>")[1].split("</table>")[0]
    people = re.search(r"<td class=\"name\">People</td>(.*?)</tr>", per_class).group(1)
    assert re.findall(r"<td>(.*?)</td>", people)[:2] == ["3", "3"]  # instances, detections
    # PR figure + one training curve (the missing one left out) + two panels
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(uris) == 4
    for uri in uris:
        img = cv2.imdecode(np.frombuffer(base64.b64decode(uri), np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and img.size > 0
    panel = cv2.imdecode(np.frombuffer(base64.b64decode(uris[-1]), np.uint8), cv2.IMREAD_COLOR)
    assert panel.shape == (20, 30, 3) and tuple(panel[0, 0]) == (0, 255, 0)
    assert "http" not in text and "<script" not in text and "<link" not in text


def test_pr_curves_follow_the_detections() -> None:
    gts, good, poor = _records()
    good_c = pr_curves(good, gts, NAMES)
    assert len(good_c["recall"]) == 101
    assert min(good_c["per_class"]["Car"]) == pytest.approx(1.0)
    poor_c = pr_curves(poor, gts, NAMES)
    assert poor_c["per_class"]["People"] == [0.0] * 101  # no true People box found
    assert poor_c["per_class"]["Car"][0] == pytest.approx(1.0)


def test_eval_report_from_metrics(tmp_path: Path) -> None:
    gts, good, _ = _records()
    metrics = evaluate_detections(good, gts, NAMES)
    run = tmp_path / "runs" / "ct"
    _png((run / "weights").mkdir(parents=True) or run / "results.png", (9, 9, 9))
    metrics.update(weights=str(run / "weights" / "best.pt"), mode="ct", split="test",
                   names=NAMES, data="somewhere", epoch=3)
    out = write_eval_report(metrics, tmp_path / "eval" / "report.html")
    text = out.read_text()
    assert "split &#x27;test&#x27;" in text and "<h3>ct</h3>" in text
    assert text.count('src="data:image/png;base64,') == 2  # PR points + results.png

    class Held:  # what EvalReport carries
        predictions, ground_truths = good, gts

    full = write_eval_report(metrics, tmp_path / "eval" / "full.html", report=Held).read_text()
    uri = re.findall(r'src="data:image/png;base64,([^"]+)"', full)[0]
    assert uri != re.findall(r'src="data:image/png;base64,([^"]+)"', text)[0]  # curves drawn


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
                 "chrome", "headless_shell"):
        found = shutil.which(name)
        if found:
            return found
    return None


def test_report_renders_in_headless_chromium(report: tuple[Path, dict], tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium binary on PATH (chromium, chromium-browser, google-chrome): "
                    "cannot render the report headless")
    out, _ = report
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                    f"--screenshot={shot}", "--window-size=1200,1600", out.as_uri()],
                   capture_output=True, timeout=120, check=False)
    img = cv2.imread(str(shot))
    assert img is not None and img.shape[0] > 100 and img.shape[1] > 100
    assert img.std() > 5  # not a blank page
