"""The detector never reaches the network: no socket, no download, font or package check.

Runs in a fresh interpreter so that importing Ultralytics itself happens with the network blocked
and without ``YOLO_OFFLINE`` set by the caller.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, socket, sys
    import torch

    calls = []

    def blocked(name):
        def fn(*args, **kwargs):
            calls.append(name)
            raise OSError(f"network blocked in test: {name}")
        return fn

    for name in ("connect", "connect_ex"):
        setattr(socket.socket, name, blocked(f"socket.{name}"))
    socket.create_connection = blocked("socket.create_connection")
    socket.getaddrinfo = blocked("socket.getaddrinfo")

    from tardal.detect import Detector

    names = ["a", "b", "c"]
    batch = {"batch_idx": torch.tensor([0.0, 1.0]), "cls": torch.tensor([[0.0], [2.0]]),
             "bboxes": torch.tensor([[0.5, 0.5, 0.3, 0.3], [0.3, 0.6, 0.2, 0.4]])}

    def one_step(model, weights=""):
        torch.manual_seed(0)
        det = Detector(names, model, weights=weights)
        opt = torch.optim.SGD(det.parameters(), lr=0.01)
        total, _ = det.loss(det(torch.rand(2, 3, 64, 64)), batch)
        opt.zero_grad(); total.backward(); opt.step()
        det.predict(torch.rand(2, 3, 64, 64))
        return det

    det = one_step("yolov8n.yaml")  # imports Ultralytics with the network blocked

    # Now that its modules are loaded, make every download/check helper they hold fail loudly.
    forbidden = ("attempt_download_asset", "safe_download", "download", "check_font",
                 "check_requirements", "check_yaml", "check_file", "is_online", "is_url")
    for mod_name, mod in list(sys.modules.items()):
        if mod_name.startswith("ultralytics") and mod is not None:
            for name in forbidden:
                if callable(getattr(mod, name, None)):
                    setattr(mod, name, blocked(f"{mod_name}.{name}"))

    for model in ("yolov8n.yaml", "yolo26n.yaml"):
        one_step(model)

    # Ultralytics' loader asks its asset helper for the file: allowed only as the local no-op.
    import os
    def local_only(file, *args, **kwargs):
        if not os.path.isfile(str(file)):
            calls.append(f"attempt_download_asset({file})")
            raise OSError("download attempted")
        return str(file)
    for mod_name, mod in list(sys.modules.items()):
        if mod_name.startswith("ultralytics") and hasattr(mod, "attempt_download_asset"):
            setattr(mod, "attempt_download_asset", local_only)
    pt = sys.argv[1]
    torch.save({"model": det.model, "train_args": {}}, pt)
    one_step("yolov8n.yaml", weights=pt)
    print(json.dumps({"calls": calls}))
    """
)


@pytest.mark.slow
def test_build_train_predict_and_load_weights_offline(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "YOLO_OFFLINE"}
    env["YOLO_CONFIG_DIR"] = str(tmp_path / "ultralytics")
    env["OMP_NUM_THREADS"] = "2"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "w.pt")],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["calls"] == []
