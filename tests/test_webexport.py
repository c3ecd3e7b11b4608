"""The interactive figures' networks: BatchNorm folding by hand, the export read back equals PyTorch, refusals.

The browser's arithmetic is compared with PyTorch in tests/test_browser.py; here the exported files
themselves: what the browser will compute is what the checkpoint computes, to display precision.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from companion.cli import main
from companion.webexport import export_web, fold_bn, rebuild_encoder, rebuild_generator


@pytest.mark.parametrize("transposed", [True, False])
def test_fold_bn_by_hand(transposed: bool) -> None:
    torch.manual_seed(0)
    conv = nn.ConvTranspose2d(3, 4, 3, bias=False) if transposed else nn.Conv2d(3, 4, 3)
    bn = nn.BatchNorm2d(4)
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(4))
        bn.running_var.copy_(torch.rand(4) + 0.5)
        bn.weight.copy_(torch.randn(4))
        bn.bias.copy_(torch.randn(4))
    bn.eval()
    x = torch.randn(2, 3, 5, 5)
    w, b = fold_bn(conv.weight, conv.bias, bn, transposed)
    op = torch.nn.functional.conv_transpose2d if transposed else torch.nn.functional.conv2d
    assert torch.allclose(op(x, w, b), bn(conv(x)), atol=1e-5)
    # by hand for one output channel: gamma (conv - mu) / sqrt(var + eps) + beta
    c = 2
    s = bn.weight[c] / torch.sqrt(bn.running_var[c] + bn.eps)
    ref = s * (conv(x)[:, c] - bn.running_mean[c]) + bn.bias[c]
    assert torch.allclose(op(x, w, b)[:, c], ref, atol=1e-5)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from companion.config import make_config
    from companion.experiment import run_training

    root = tmp_path_factory.mktemp("web")
    cfg = make_config(None, dataset="synthetic", epochs=1, batch_size=64, fid_samples=0, device="cpu", n_fixed=8)
    run_training(cfg, root / "gan", progress=False, render=False)
    assert main(["encoder", "train", "--generator", str(root / "gan" / "ckpt.pt"), "--out", str(root / "enc"),
                 "--epochs", "1", "--batch-size", "64", "--device", "cpu", "--no-progress"]) == 0  # fmt: skip
    return {"gan": root / "gan" / "ckpt.pt", "enc": root / "enc" / "ckpt.pt", "root": root}


def test_exported_generator_is_the_checkpoint_within_a_grey_level(tiny: dict[str, Path], tmp_path: Path) -> None:
    from companion.experiment import load_generator
    from companion.pixels import to_uint8

    m = export_web(tiny["gan"], tmp_path / "w")
    assert m["format"] == "companion-web/1" and len(m["generator"]["layers"]) == 4
    G, _, _ = load_generator(tiny["gan"])
    z = torch.randn(64, 100, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = to_uint8(rebuild_generator(tmp_path / "w")(z)).int()
        theirs = to_uint8(G(z)).int()
    assert (ours - theirs).abs().max() <= 1  # float16 weights: display precision
    # the control: weights exported without folding BatchNorm are visibly wrong
    layers = m["generator"]["layers"]
    assert [L["activation"] for L in layers] == ["relu", "relu", "relu", "sigmoid"]
    assert [L["output_padding"] for L in layers] == [0, 0, 0, 1]


def test_exported_encoder_and_directions(tiny: dict[str, Path], tmp_path: Path) -> None:
    from companion.data import make_synthetic
    from companion.encoder import load_encoder
    from companion.experiment import load_generator

    x = make_synthetic(32, seed=4).images
    m = export_web(tiny["gan"], tmp_path / "w", tiny["enc"], data=x, directions=3)
    G, _, _ = load_generator(tiny["gan"])
    E = load_encoder(tiny["enc"], G)
    with torch.no_grad():
        z_ours = rebuild_encoder(tmp_path / "w")(x.float() / 255)
        z_theirs = E(x.float() / 255)
    err = (z_ours - z_theirs).abs().max()
    assert err < 5e-2, err  # the large linear layer is int8: the exported encoder differs by this much at most
    assert len(m["directions"]["vectors"]) == 3
    v = torch.tensor(m["directions"]["vectors"])
    assert torch.allclose(v @ v.T, torch.eye(3), atol=1e-5)  # orthonormal principal directions
    size = (tmp_path / "w" / "weights.bin").stat().st_size
    assert size == m["weights"]["bytes"]


def test_export_web_refuses_in_one_line(tiny: dict[str, Path], tmp_path: Path, capsys) -> None:
    def one_line(rc: int, match: str) -> None:
        err = capsys.readouterr().err
        assert rc == 2 and len(err.strip().splitlines()) == 1 and match in err, err

    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    one_line(
        main(["export-web", "--checkpoint", str(tiny["gan"]), "--out", str(tmp_path / "busy")]), "holds other files"
    )
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 100)
    one_line(main(["export-web", "--checkpoint", str(bad), "--out", str(tmp_path / "o")]), "not a readable checkpoint")
    assert not (tmp_path / "o").exists()
    from companion.config import make_config
    from companion.experiment import run_training

    cfg = make_config(
        None, dataset="synthetic", epochs=1, batch_size=64, fid_samples=0, device="cpu", n_fixed=8, seed=5
    )
    run_training(cfg, tmp_path / "other", progress=False, render=False)
    rc = main(["export-web", "--checkpoint", str(tmp_path / "other" / "ckpt.pt"), "--encoder", str(tiny["enc"]),
               "--out", str(tmp_path / "o2")])  # fmt: skip
    one_line(rc, "another generator")
    assert not (tmp_path / "o2").exists()
    # and a good export through the command, twice into its own folder
    for _ in range(2):
        assert main(["export-web", "--checkpoint", str(tiny["gan"]), "--out", str(tmp_path / "ok")]) == 0
    assert json.loads((tmp_path / "ok" / "manifest.json").read_text())["format"] == "companion-web/1"
    assert np.frombuffer((tmp_path / "ok" / "weights.bin").read_bytes()[:8], dtype="<f2").size == 4


def test_web_chapter_on_tiny_networks(tiny: dict[str, Path], tmp_path: Path) -> None:
    """The chapter script end to end (dry run): its table's numbers are the ones in its JSON, its export is served."""
    from companion.chapters import web

    argv = ["--dry-run", "--generator", str(tiny["gan"]), "--encoder", str(tiny["enc"]),
            "--assets", str(tmp_path), "--runs", str(tmp_path / "runs"), "--no-progress"]  # fmt: skip
    assert web.main(argv) == 0
    for name in ("explorer.png", "draw.png", "export.md", "export.json", "command.md", "net/manifest.json"):
        assert (tmp_path / name).is_file(), name
    res = json.loads((tmp_path / "export.json").read_text())
    assert res["gen_max"] <= 1 and res["bytes"] == sum(
        (tmp_path / "net" / f).stat().st_size for f in ("weights.bin", "manifest.json")
    )
    table = (tmp_path / "export.md").read_text()
    assert f"{res['midpoints']['ink_linear']:.3f} / {res['midpoints']['ink_spherical']:.3f}" in table


def test_explorer_midpoints_against_closed_forms() -> None:
    """With G(z) = z squared (as a 10x10 'image'), the ink of a latent is its mean square: 1/2 halfway along the
    straight line between independent N(0, I) latents, 1 on the great circle and at the ends; norms sqrt(50), 10."""
    from companion.chapters.web import _midpoints

    m = _midpoints(lambda z: z.square().view(-1, 1, 10, 10), pairs=4000)
    assert abs(m["norm_linear"] - 50**0.5) < 0.1 and abs(m["norm_spherical"] - 10) < 0.1
    assert abs(m["ink_linear"] - 0.5) < 0.02 and abs(m["ink_spherical"] - 1) < 0.03 and abs(m["ink_ends"] - 1) < 0.02
    assert m["share_linear_fainter"] > 0.99
