"""One serialisation per checkpoint event, in every path that saves: when the newest state is also
the state of a top-k (best) checkpoint just written, last.ckpt becomes a second name of that
file instead of a second write of the same state."""

from __future__ import annotations

import os

import pytest
import torch

from tests.helpers.paths import QUICKSTART, SMALL_QUICKSTART

EPOCHS, STEPS_PER_EPOCH = 3, 8  # SMALL_QUICKSTART: 512 samples in batches of 64
PATHS = {
    # validation at each epoch's end (the default): one save an epoch
    "epoch-end validation": ([], EPOCHS),
    # validation twice an epoch: one save each
    "mid-epoch validation": (["--trainer.val_check_interval", "4"], 2 * EPOCHS),
    # no validation, the checkpoint judged on the training loss at each epoch's end
    "no validation": (["--trainer.limit_val_batches", "0", "--checkpoint.monitor", "train/loss"], EPOCHS),
    # the two best kept under their own names, judged so that the first epoch is the best and the
    # second is kept too, though not the best: last.ckpt is linked to whichever was just written
    "two best kept": (["--checkpoint.save_top_k", "2", "--checkpoint.filename", "epoch{epoch}", "--checkpoint.mode", "max"], EPOCHS),
}


@pytest.mark.parametrize("path", PATHS)
def test_every_checkpoint_event_serialises_once(path, lit_dl, tmp_path, monkeypatch):
    flags, events = PATHS[path]
    serialisations = []
    save = torch.save
    monkeypatch.setattr(torch, "save", lambda obj, file, *a, **k: (serialisations.append(obj["global_step"]), save(obj, file, *a, **k)))

    code, out, err = lit_dl(
        "fit", "--config", QUICKSTART, "--trainer.default_root_dir", tmp_path, *SMALL_QUICKSTART,
        "--trainer.max_epochs", str(EPOCHS), "--test_after_fit", "false", "--model.init_args.scheduler", "null", *flags,
    )

    assert code == 0, err
    assert len(serialisations) == len(set(serialisations)) == events, serialisations  # no state written twice
    checkpoints = tmp_path / "quickstart" / "version_0" / "checkpoints"
    last = torch.load(checkpoints / "last.ckpt", weights_only=True)
    assert last["global_step"] == EPOCHS * STEPS_PER_EPOCH
    same_state = [p for p in checkpoints.iterdir() if p.name != "last.ckpt"
                  and torch.load(p, weights_only=True)["global_step"] == last["global_step"]]
    for other in same_state:  # a file holding the newest state is last.ckpt itself, by another name
        assert os.path.samefile(other, checkpoints / "last.ckpt"), other
