"""Write ``zoo-torchvision.toml``: every torchvision ImageNet classifier with its weights' own preprocessing.

    python examples/zoo_torchvision.py [OUT.toml]

The resize and crop sizes, the resize's interpolation, mean and std come from each model's DEFAULT weights' metadata
(``torchvision.models.get_model_weights(name).DEFAULT.transforms()``), not typed by
hand; ``tests/test_zoo_file.py`` checks the shipped file against that metadata, so a
torchvision upgrade that changes them shows up as a failing test and a rerun of this
script. Nothing is downloaded: ``ablate probe --models zoo-torchvision.toml`` reads each
model's weights from the user's torch hub cache (``TORCH_HOME``) and says which file is
missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

from torchvision import models

HEADER = """\
# Every torchvision ImageNet classifier, with its DEFAULT weights' own preprocessing: the sizes,
# mean and std below are read from torchvision {version}'s weight metadata by
# examples/zoo_torchvision.py (rerun it after a torchvision upgrade). Weights come from your
# torch hub cache; ablate downloads nothing.
#
#   ablate probe --models examples/zoo-torchvision.toml --dataset imagefolder:PATH --rank
"""


def zoo_tables() -> list[dict]:
    """One ``[[model]]`` table per torchvision classification model: name, source and preprocessing."""
    tables = []
    for name in models.list_models(module=models):
        weights = models.get_model_weights(name).DEFAULT
        transforms = weights.transforms()
        tables.append({"name": name, "source": f"torchvision:{name}",
                       "resize": int(transforms.resize_size[0]), "image_size": int(transforms.crop_size[0]),
                       "mean": [float(v) for v in transforms.mean], "std": [float(v) for v in transforms.std],
                       "interpolation": transforms.interpolation.value,
                       "weights": str(weights), "top1": weights.meta.get("_metrics", {}).get("ImageNet-1K", {})
                       .get("acc@1")})
    return tables


def toml_text(tables: list[dict]) -> str:
    import torchvision

    lines = [HEADER.format(version=torchvision.__version__.split("+")[0])]
    for table in tables:
        lines += ["[[model]]", f"# {table['weights']}: ImageNet top-1 {table['top1']} %",
                  f'name = "{table["name"]}"', f'source = "{table["source"]}"', 'weights = "DEFAULT"',
                  f"resize = {table['resize']}", f'interpolation = "{table["interpolation"]}"',
                  f"image_size = {table['image_size']}",
                  f"mean = {table['mean']}", f"std = {table['std']}", ""]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    out = Path(argv[0]) if argv else Path(__file__).with_name("zoo-torchvision.toml")
    out.write_text(toml_text(zoo_tables()))
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
