"""precision: true float32 by default and part of a run's identity; tf32 and bf16 opt-in; legacy "auto"
read back; the CUDA flags a run sets; compile modes and the fused optimizer change no identity."""

from __future__ import annotations

import pytest
import torch

import ablate
from ablate.core.device import autocast_dtype, configure
from ablate.study.expansion import expand
from ablate.study.recipe_file import load_recipe
from ablate.study.settings import Settings
from ablate.testing import tiny_model
from ablate.train.checkpoint import load_checkpoint
from ablate.train.optim import make_optimizer
from ablate.train.trained import load_trained
from ablate.train.trainer import Trainer, train

from conftest import ctrl_c_at_epoch

TINY_DATA = 'dataset="synthetic:train=200,test=100"'


def run_of(write_recipe, overrides=(), runs='[[runs]]\nname = "v"\n', scale=None):
    (run,) = expand(load_recipe(write_recipe(runs)), scale, list(overrides))
    return run


def test_fp32_is_the_default_and_keeps_existing_hashes(write_recipe):
    default = run_of(write_recipe)
    assert default.settings.precision == "fp32"
    assert "precision" not in default.settings.identity()
    assert run_of(write_recipe, ["precision=fp32"]).short_hash == default.short_hash


def test_the_faster_precisions_are_other_runs(write_recipe):
    hashes = {p: run_of(write_recipe, [f"precision={p}"]).short_hash for p in ("fp32", "tf32", "bf16")}
    assert len(set(hashes.values())) == 3
    assert run_of(write_recipe, ["precision=bf16"]).settings.identity()["precision"] == "bf16"


def test_a_scale_or_a_run_sets_the_precision(write_recipe):
    runs = '[scales.fast]\nprecision = "bf16"\n[[runs]]\nname = "v"\n[[runs]]\nname = "w"\n' \
           'settings = { precision = "tf32" }\n'
    path = write_recipe(runs)
    by_name = {r.name: r.settings.precision for r in expand(load_recipe(path), "fast")}
    assert by_name == {"v": "bf16", "w": "tf32"}
    assert {r.name: r.settings.precision for r in expand(load_recipe(path))} == {"v": "fp32", "w": "tf32"}


@pytest.mark.parametrize("value", ["auto", "fp16"])
def test_other_precisions_are_refused_naming_the_choices(write_recipe, value):
    with pytest.raises(ablate.AblateError, match=f"found '{value}', allowed: fp32, tf32, bf16"):
        run_of(write_recipe, [f"precision={value}"])


@pytest.mark.parametrize("precision, dtype", [("fp32", None), ("tf32", None), ("bf16", torch.bfloat16)])
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_only_bf16_autocasts(precision, dtype, device):
    settings = Settings()
    settings.set("precision", precision, "test")
    assert autocast_dtype(settings, torch.device(device)) is dtype


@pytest.mark.parametrize("device_type, read_as", [("cpu", "fp32"), ("cuda", "bf16")])
def test_a_saved_legacy_auto_reads_as_what_it_meant_on_the_device(device_type, read_as):
    saved = {**Settings().as_dict(), "precision": "auto", "a_setting_of_the_future": 1}
    settings = Settings.saved(saved, "config.json", device_type)
    assert settings.precision == read_as
    assert settings.identity() == Settings().identity() | ({"precision": "bf16"} if read_as == "bf16" else {})


def test_a_checkpoint_saying_auto_still_loads_and_resumes(write_recipe, tmp_path, monkeypatch):
    """Checkpoints of ablate 0.1 hold precision = "auto": the model loads (ablate probe) and the run resumes,
    on the CPU as the float32 run it was."""
    run = run_of(write_recipe)
    whole = train(run)
    with ctrl_c_at_epoch(2, monkeypatch):
        train(run, tmp_path)
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    state["settings"]["precision"] = "auto"
    torch.save(state, tmp_path / "checkpoint.pt")
    model, settings, _ = load_trained(tmp_path / "checkpoint.pt", device="cpu")
    assert settings.precision == "fp32" and not model.training
    assert train(run, tmp_path).equals(whole)


@pytest.fixture
def cuda_flags():
    """Leave torch's process-wide flags as the test found them."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark,
             torch.backends.cudnn.deterministic, torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled())
    yield
    (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark,
     torch.backends.cudnn.deterministic) = saved[:4]
    torch.use_deterministic_algorithms(saved[4], warn_only=saved[5])


@pytest.mark.parametrize("precision, tf32", [("fp32", False), ("tf32", True), ("bf16", False)])
def test_on_cuda_tf32_is_on_only_when_asked(cuda_flags, precision, tf32):
    torch.backends.cudnn.allow_tf32 = not tf32          # whatever an earlier run left
    torch.backends.cuda.matmul.allow_tf32 = not tf32
    settings = Settings()
    settings.set("precision", precision, "test")
    configure(settings, torch.device("cuda"))
    assert torch.backends.cudnn.allow_tf32 is tf32 and torch.backends.cuda.matmul.allow_tf32 is tf32


def test_deterministic_is_set_and_unset_run_by_run(cuda_flags):
    settings = Settings()
    settings.set("deterministic", True, "test")
    configure(settings, torch.device("cuda"))
    assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
    assert not torch.backends.cudnn.benchmark
    configure(Settings(), torch.device("cuda"))
    assert not torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.benchmark


def test_the_cpu_flags_are_left_alone(cuda_flags):
    torch.backends.cudnn.benchmark = False
    settings = Settings()
    settings.set("deterministic", True, "test")
    configure(settings, torch.device("cpu"))
    assert not torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark


def test_a_bf16_run_learns_and_keeps_compact_probe_copies(write_recipe):
    run = run_of(write_recipe, ["precision=bf16", 'dataset="synthetic:train=400,test=200"', "epochs=4",
                                'model="hfc-resnet"', "width=0.5", "lr=0.001"])
    trainer = Trainer(run)
    metrics = trainer.fit()
    loss = metrics.query("split == 'train' and metric == 'loss'")["value"].tolist()
    acc = metrics.query("split == 'test' and component == 'original' and metric == 'accuracy'")["value"]
    assert loss[-1] < loss[0] and acc.iloc[-1] > 0.3
    assert trainer.state.autocast_dtype == torch.bfloat16
    assert {prober.cache.dtype for _, prober in trainer.probers} == {torch.bfloat16}


def test_an_fp32_run_keeps_float32_probe_copies(write_recipe):
    trainer = Trainer(run_of(write_recipe, [TINY_DATA]))
    trainer.setup()
    assert trainer.state.autocast_dtype is None
    assert {prober.cache.dtype for _, prober in trainer.probers} == {torch.float32}


def test_pgd_attacks_in_bf16_only_when_the_run_and_the_plugin_opt_in(write_recipe, monkeypatch):
    seen = []
    import ablate.train.attacks

    def spy(model, x, *args, autocast_dtype=None, **kwargs):
        seen.append(autocast_dtype)
        return x.float()

    monkeypatch.setattr("ablate_plugins.pgd.pgd", spy)
    runs = '[[runs]]\nname = "a"\nplugins = ["pgd"]\n'
    for overrides in (["precision=bf16", "pgd.precision=\"autocast\""], ["precision=bf16"],
                      ["pgd.precision=\"autocast\""]):
        Trainer(run_of(write_recipe, overrides + [TINY_DATA, "epochs=1", "batch_size=200"], runs)).fit()
    assert seen == [torch.bfloat16, None, None]
    assert ablate.train.attacks.pgd is not spy


@pytest.mark.parametrize("mode", ["default", "reduce-overhead", "max-autotune"])
def test_compile_modes_reach_torch_compile_and_name_no_other_run(write_recipe, monkeypatch, mode):
    modes = []
    monkeypatch.setattr(torch, "compile", lambda model, mode: modes.append(mode) or model)
    run = run_of(write_recipe, ["compile=true", f'compile_mode="{mode}"', TINY_DATA])
    Trainer(run).setup()
    assert modes == [mode]
    assert run.short_hash == run_of(write_recipe, [TINY_DATA]).short_hash


def test_an_unknown_compile_mode_is_refused(write_recipe):
    with pytest.raises(ablate.AblateError, match="compile_mode: found 'fast', allowed: default, reduce-overhead"):
        run_of(write_recipe, ['compile_mode="fast"'])


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_no_fused_kernel_off_cuda_whatever_the_setting(optimizer):
    settings = Settings()
    settings.set("optimizer", optimizer, "test")
    made = make_optimizer(tiny_model(), settings)
    assert settings.fused and not made.param_groups[0].get("fused")


def test_fused_and_deterministic_name_no_other_run(write_recipe):
    plain = run_of(write_recipe).short_hash
    assert run_of(write_recipe, ["fused=false", "deterministic=true"]).short_hash == plain


def test_the_same_training_whatever_the_execution_settings(write_recipe):
    """On the CPU, fused and deterministic change nothing: the metrics are equal to the last bit."""
    base = [TINY_DATA, "epochs=1"]
    plain = train(run_of(write_recipe, base))
    other = train(run_of(write_recipe, base + ["fused=false", "deterministic=true"]))
    assert plain.equals(other)
