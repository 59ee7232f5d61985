"""One self-contained HTML report of a detection comparison, evaluation or demo.

Everything is in the one file: tables as HTML, pictures as base64 PNG ``data:`` URIs; no
script, no style sheet or font fetched from anywhere, no link. Sections, in order:

1. the comparison table (one row per run: AP, AP50, AP75, precision, recall, F1, AP50 per
   class);
2. per-class AP tables (one per run: instances, detections, P, R, F1, AP50, AP50:95);
3. precision-recall curves at IoU 0.5, one panel per run: the full curves when the run's
   results carry ``pr`` (from :func:`pr_curves`, pycocotools' precision array), otherwise each
   class's operating point at its best F1 (``per_class`` precision and recall);
4. training curves (each run's ``results.png``);
5. panels (any PNG files, e.g. the demo's infrared | visible | fused pictures).

:func:`write_html_report` writes any such report; :func:`write_eval_report` is the one-run
form for ``tardal eval``'s metrics dict.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tardal.io import atomic_write_text

log = logging.getLogger(__name__)

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:0.5em 0 1.5em 0;font-size:0.9em}
th,td{border:1px solid #bbb;padding:0.25em 0.6em;text-align:right}
th{background:#eee}td.name,th.name{text-align:left}
img{max-width:100%;border:1px solid #ddd;margin:0.3em 0}
figure{margin:0 0 1em 0}figcaption{font-size:0.85em;color:#555}
"""

HEADLINE = ("AP", "AP50", "AP75", "precision", "recall", "f1")


def _num(value: Any, digits: int = 3) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "-"
    return "-" if math.isnan(v) else f"{v:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], name_cols: int = 1) -> str:
    """An HTML table; the first ``name_cols`` columns are left-aligned names (escaped)."""
    def cells(row: Sequence[str], tag: str) -> str:
        return "".join(f'<{tag} class="name">{html.escape(str(c))}</{tag}>' if i < name_cols
                       else f"<{tag}>{html.escape(str(c))}</{tag}>" for i, c in enumerate(row))

    body = "".join(f"<tr>{cells(r, 'td')}</tr>" for r in rows)
    return f"<table><thead><tr>{cells(header, 'th')}</tr></thead><tbody>{body}</tbody></table>"


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _img(png: bytes, caption: str) -> str:
    cap = html.escape(caption)
    return (f'<figure><img alt="{cap}" src="{png_data_uri(png)}">'
            f"<figcaption>{cap}</figcaption></figure>")


def _png_of_file(path: Path) -> bytes | None:
    """A file's bytes when it is a PNG, or the image re-encoded as PNG; None if unreadable."""
    import cv2

    try:
        data = path.read_bytes()
    except OSError:
        log.warning("report: cannot read %s; left out", path)
        return None
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return data
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    ok, buf = (False, None) if img is None else cv2.imencode(".png", img)
    if not ok:
        log.warning("report: %s is no readable image; left out", path)
        return None
    return buf.tobytes()


def comparison_table(results: Mapping[str, Mapping[str, Any]], names: Sequence[str]) -> str:
    header = ["run", *HEADLINE, *(f"AP50 {n}" for n in names)]
    rows = []
    for run, r in results.items():
        per = r.get("per_class", {}) or {}
        rows.append([run, *(_num(r.get(k)) for k in HEADLINE),
                     *(_num((per.get(n) or {}).get("AP50")) for n in names)])
    return _table(header, rows)


def per_class_table(result: Mapping[str, Any], names: Sequence[str]) -> str:
    header = ["class", "instances", "detections", "P", "R", "F1", "AP50", "AP50:95"]
    per = result.get("per_class", {}) or {}
    rows = []
    for n in names:
        c = per.get(n) or {}
        rows.append([n, str(c.get("instances", "-")), str(c.get("detections", "-")),
                     _num(c.get("precision")), _num(c.get("recall")), _num(c.get("f1")),
                     _num(c.get("AP50")), _num(c.get("AP"))])
    rows.append(["all", str(result.get("instances", "-")), "", _num(result.get("precision")),
                 _num(result.get("recall")), _num(result.get("f1")), _num(result.get("AP50")),
                 _num(result.get("AP"))])
    return _table(header, rows)


def pr_curves(predictions: Sequence[Mapping[str, Any]], ground_truths: Sequence[Mapping[str, Any]],
              names: Sequence[str], iou: float = 0.5) -> dict[str, Any]:
    """Precision-recall curves at IoU ``iou`` from pycocotools' accumulated precision array
    (area "all", 100 detections): ``{"recall": [101 values in [0,1]], "per_class": {name:
    [101 precisions] or None (no ground truth)}}``. Records as for
    :func:`tardal.evaluation.evaluate_detections` (e.g. ``EvalReport.predictions``)."""
    import contextlib

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from tardal.evaluation.coco import to_coco_ground_truth, to_coco_results

    ids: dict[Any, int] = {}
    for rec in ground_truths:
        ids.setdefault(rec["image_id"], len(ids) + 1)
    gt = to_coco_ground_truth(ground_truths, [str(n) for n in names], ids)
    res = to_coco_results(predictions, ids)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        if not res:
            return {"recall": [], "per_class": {str(n): None for n in names}}
        ev = COCOeval(coco_gt, coco_gt.loadRes(res), iouType="bbox")
        ev.evaluate()
        ev.accumulate()
    p = ev.params
    t = int(np.argmin(np.abs(p.iouThrs - iou)))
    a = list(p.areaRngLbl).index("all")
    prec = ev.eval["precision"][t, :, :, a, len(p.maxDets) - 1]  # (R, K)
    per = {}
    for k, cat in enumerate(p.catIds):
        col = prec[:, k]
        per[str(names[cat - 1])] = None if (col < 0).all() else np.clip(col, 0, 1).tolist()
    return {"recall": [float(r) for r in p.recThrs], "per_class": per}


def _figure_png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def pr_figure(results: Mapping[str, Mapping[str, Any]], names: Sequence[str]) -> bytes:
    """PNG of one precision-recall panel per run (see the module doc)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    from tardal.evaluation.plots import PALETTE

    n = max(1, len(results))
    fig = Figure(figsize=(3.6 * n, 3.2), dpi=90)
    for i, (run, r) in enumerate(results.items()):
        ax = fig.add_subplot(1, n, i + 1)
        curves = r.get("pr") or {}
        for k, name in enumerate(names):
            colour = tuple(c / 255 for c in PALETTE[k % len(PALETTE)])
            prec = (curves.get("per_class") or {}).get(name)
            if prec and curves.get("recall"):
                ax.plot(curves["recall"], prec, color=colour, linewidth=1.2, label=name)
            else:
                c = (r.get("per_class") or {}).get(name) or {}
                pr, rc = c.get("precision"), c.get("recall")
                if pr is not None and rc is not None and not (math.isnan(pr) or math.isnan(rc)):
                    ax.plot([rc], [pr], "o", color=colour, label=name)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("recall", fontsize=8)
        ax.set_ylabel("precision", fontsize=8)
        kind = "curves" if curves else "best-F1 points"
        ax.set_title(f"{run} (IoU 0.5, {kind})", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, loc="lower left")
    return _figure_png(fig)


def html_report(title: str, results: Mapping[str, Mapping[str, Any]], names: Sequence[str], *,
                intro: str = "", training: Mapping[str, Path | None] | None = None,
                panels: Sequence[Path] = ()) -> str:
    """The report as one HTML string (see the module doc). ``results``: run name ->
    :func:`~tardal.evaluation.evaluate_detections` dict (optionally with ``pr``);
    ``training``: run name -> its ``results.png`` (missing files are left out)."""
    names = [str(n) for n in names]
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if intro:
        parts.append(f"<p>{html.escape(intro)}</p>")
    parts.append("<h2>Comparison</h2>")
    parts.append(comparison_table(results, names))
    parts.append("<h2>Per-class AP</h2>")
    for run, r in results.items():
        parts.append(f"<h3>{html.escape(run)}</h3>")
        parts.append(per_class_table(r, names))
    if results:
        parts.append("<h2>Precision-recall</h2>")
        parts.append(_img(pr_figure(results, names), "precision-recall at IoU 0.5"))
    shown = [(run, Path(p)) for run, p in (training or {}).items()
             if p is not None and Path(p).is_file()]
    if shown:
        parts.append("<h2>Training curves</h2>")
        for run, p in shown:
            png = _png_of_file(p)
            if png is not None:
                parts.append(_img(png, f"{run}: {p.name}"))
    if panels:
        parts.append("<h2>Panels</h2>")
        for p in panels:
            png = _png_of_file(Path(p))
            if png is not None:
                parts.append(_img(png, Path(p).stem))
    body = "\n".join(parts)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n"
            f"<body>\n{body}\n</body></html>\n")


def write_html_report(out: str | Path, title: str, results: Mapping[str, Mapping[str, Any]],
                      names: Sequence[str], **kwargs: Any) -> Path:
    """Write :func:`html_report` to ``out`` atomically; returns ``out``."""
    out = Path(out)
    atomic_write_text(out, html_report(title, results, names, **kwargs))
    return out


def write_eval_report(metrics: Mapping[str, Any], out: str | Path, *, report: Any = None,
                      title: str | None = None, training: Path | None = None,
                      panels: Sequence[Path] = ()) -> Path:
    """The report of one ``tardal eval`` result (its ``metrics.json`` dict: the evaluation
    results plus ``mode``, ``weights``, ``split``, ``names``). With ``report`` (the
    :class:`~tardal.engine.evaluate.EvalReport`, holding the predictions and ground truth) the
    precision-recall curves are drawn in full, otherwise each class's best-F1 point. The run's
    ``results.png`` is found beside its ``weights/`` folder unless ``training`` is given.

    ``tardal eval --html`` calls ``write_eval_report(metrics, out / "report.html",
    report=report)``."""
    run = str(metrics.get("mode") or "run")
    names = metrics.get("names") or list((metrics.get("per_class") or {}).keys())
    if report is not None:
        metrics = {**metrics, "pr": pr_curves(report.predictions, report.ground_truths, names)}
    if training is None and metrics.get("weights"):
        w = Path(str(metrics["weights"]))
        folder = w.parent.parent if w.parent.name == "weights" else w.parent
        training = folder / "results.png"
    title = title or (f"{run} run {metrics.get('weights', '')} on split "
                      f"'{metrics.get('split', '?')}'")
    intro = (f"{metrics.get('images', '?')} images, {metrics.get('instances', '?')} objects; "
             f"data {metrics.get('data', '?')}.")
    return write_html_report(out, title, {run: metrics}, names, intro=intro,
                             training={run: training}, panels=panels)
