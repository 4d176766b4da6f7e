"""A checkpoint written on CUDA loads and resumes on a CPU-only machine: every tensor is mapped to the CPU."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest
import torch
from test_checkpoint_safety import stop_at_epoch

import ablate
from ablate.train.checkpoint import load_checkpoint
from ablate.train.trained import load_trained

ROOT = Path(__file__).resolve().parents[1]


def save_as_if_on_cuda(path: Path) -> None:
    """Rewrite the checkpoint at ``path`` as a CUDA run writes it: every storage tagged ``cuda:0`` and
    CUDA generator states in its random state (torch's serializer told so by a tagger of first priority)."""
    state = torch.load(path, weights_only=True)
    state["rng"]["cuda"] = [torch.zeros(16, dtype=torch.uint8)]
    registry = list(torch.serialization._package_registry)
    torch.serialization.register_package(-1, lambda storage: "cuda:0", lambda storage, location: None)
    try:
        torch.save(state, path)
    finally:
        torch.serialization._package_registry[:] = registry


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a CPU-only machine")
def test_a_cuda_checkpoint_resumes_and_loads_on_the_cpu(write_recipe, tmp_path, monkeypatch):
    path = write_recipe('[[runs]]\nname = "x"\nplugins = ["dropout"]\n')
    whole = ablate.run_recipe(path, None, out=tmp_path / "whole")
    stop_at_epoch(path, tmp_path / "moved", 2, monkeypatch)
    (checkpoint,) = (tmp_path / "moved" / "tiny").glob("x-*/checkpoint.pt")
    save_as_if_on_cuda(checkpoint)
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.load(checkpoint, weights_only=True)        # without a map_location it cannot load here
    assert load_checkpoint(checkpoint)["model"]["fc.weight"].device.type == "cpu"
    model, _, _ = load_trained(checkpoint, device="cpu")
    assert next(model.parameters()).device.type == "cpu"
    pd.testing.assert_frame_equal(ablate.run_recipe(path, None, out=tmp_path / "moved"), whole)


def test_every_torch_load_maps_to_a_device():
    """A torch.load without map_location would fail on a machine without the writer's device."""
    unmapped = []
    for source in [*ROOT.glob("ablate/**/*.py"), *ROOT.glob("plugins/**/*.py")]:
        for node in ast.walk(ast.parse(source.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load"
                    and ast.unparse(node.func.value) == "torch"
                    and "map_location" not in {k.arg for k in node.keywords}):
                unmapped.append(f"{source.relative_to(ROOT)}:{node.lineno}")
    assert not unmapped
    assert any("torch.load(" in p.read_text() for p in ROOT.glob("ablate/**/*.py"))      # the scan sees the loader
