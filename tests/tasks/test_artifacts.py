"""Task folders: save → load gives the same predictions; bad folders and backbones are refused."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from memgpt.tasks.adapters import AdapterSpec, adapter_parameters, add_adapters
from memgpt.tasks.artifacts import (
    TaskSpec,
    load_task,
    read_spec,
    resolve_task,
    save_task,
)
from memgpt.tasks.heads import HeadSpec, TaskModel, build_head
from memgpt.tasks.recipes import default_spec
from memgpt.tasks.registry import shipped_defaults


def _trained(tiny_model, spec: TaskSpec) -> TaskModel:
    """A task model whose adapter and head hold non-zero random weights (as after training)."""
    torch.manual_seed(1)
    if spec.adapter is not None:
        add_adapters(tiny_model, spec.adapter)
        with torch.no_grad():
            for p in adapter_parameters(tiny_model):
                p.normal_(0, 0.05)
    return TaskModel(tiny_model, spec.head, build_head(spec.head)).eval()


def _sha256_of_weights(model) -> str:
    """The backbone hash written out from its definition (no cache): sha256 over name, shape
    and fp32 bytes of every state entry outside the memory layers, in name order."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        if ".attn.memory." not in name:
            h.update(name.encode() + str(tuple(t.shape)).encode())
            h.update(t.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()


def test_backbone_hash_is_the_sha256_of_the_backbone_weights(tiny_model):
    from memgpt.checkpoint import backbone_hash
    from memgpt.tasks.adapters import remove_adapters

    first = backbone_hash(tiny_model)
    assert first == _sha256_of_weights(tiny_model)
    with torch.no_grad():
        tiny_model.layers[1].attn.memory.gate.fill_(3.0)  # memory weights are not the backbone
    assert backbone_hash(tiny_model) == first
    with torch.no_grad():
        tiny_model.layers[0].mlp.down_proj.weight[0, 0] += 1e-3  # in place: the cache notices
    changed = backbone_hash(tiny_model)
    assert changed != first and changed == _sha256_of_weights(tiny_model)
    add_adapters(tiny_model, AdapterSpec(rank=2, alpha=4, targets=("q_proj",)))
    assert backbone_hash(tiny_model) != changed  # why task.json's is taken without adapters
    remove_adapters(tiny_model)
    assert backbone_hash(tiny_model) == changed


def test_task_folder_hash_covers_every_file_name_and_content(tmp_path, tiny_model):
    from memgpt.tasks.registry import task_folder_hash

    spec = default_spec("classify", d_model=tiny_model.config.d_model, labels=("a", "b"))
    folder = save_task(tmp_path / "art", spec, _trained(tiny_model, spec))

    def expected() -> str:
        lines = b"".join(p.name.encode() + b"\0" + hashlib.sha256(p.read_bytes()).hexdigest()
                         .encode() + b"\n" for p in sorted(folder.iterdir()) if p.is_file())
        return hashlib.sha256(lines).hexdigest()

    first = task_folder_hash(folder)
    assert first == expected()
    head = folder / "head.safetensors"
    original = head.read_bytes()
    head.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))  # one bit of one weight
    assert task_folder_hash(folder) != first and task_folder_hash(folder) == expected()
    head.write_bytes(original)
    assert task_folder_hash(folder) == first
    (folder / "notes.txt").write_text("x")  # a new file counts too
    assert task_folder_hash(folder) != first


@pytest.mark.parametrize("task", ["classify", "qa", "translate"])
def test_save_load_round_trip_gives_identical_outputs(tmp_path, tiny_model, task):
    from memgpt.checkpoint import backbone_hash

    d = tiny_model.config.d_model
    lora = AdapterSpec(rank=4, alpha=8, targets=("q_proj", "v_proj"))
    spec = default_spec(task, d_model=d, labels=("neg", "pos"), adapter=lora)
    spec = TaskSpec(**{**spec.__dict__, "backbone_hash": backbone_hash(tiny_model)})
    model = _trained(tiny_model, spec)
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    before = model(ids)
    folder = save_task(tmp_path / "art", spec, model)
    assert (folder / "adapter.safetensors").is_file()
    assert (folder / "head.safetensors").is_file() == (task != "translate")
    spec2, model2 = load_task(folder, tiny_model)  # replaces the adapter on the same backbone
    assert spec2 == spec
    after = model2(ids)
    for a, b in zip(before if isinstance(before, tuple) else (before,),
                    after if isinstance(after, tuple) else (after,)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_other_backbone_is_refused(tmp_path, tiny_model, tiny_config):
    from memgpt.model import MemGPT

    spec = default_spec("classify", d_model=tiny_config.d_model, labels=("a", "b"))
    spec = TaskSpec(**{**spec.__dict__, "backbone_hash": "0" * 64})
    save_task(tmp_path / "art", spec, _trained(tiny_model, spec))
    with pytest.raises(ValueError, match="another backbone"):
        load_task(tmp_path / "art", MemGPT(tiny_config))


def test_save_replaces_an_existing_folder_atomically(tmp_path, tiny_model):
    spec = default_spec("classify", d_model=tiny_model.config.d_model, labels=("a", "b"))
    model = _trained(tiny_model, spec)
    save_task(tmp_path / "art", spec, model)
    save_task(tmp_path / "art", spec, model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"]  # no temp folders left


@pytest.mark.parametrize("damage", ["no-json", "bad-json", "format", "unknown-key", "weights"])
def test_bad_task_folders_give_clear_errors(tmp_path, tiny_model, damage):
    spec = default_spec("classify", d_model=tiny_model.config.d_model, labels=("a", "b"))
    folder = save_task(tmp_path / "art", spec, _trained(tiny_model, spec))
    meta = json.loads((folder / "task.json").read_text())
    if damage == "no-json":
        (folder / "task.json").unlink()
    elif damage == "bad-json":
        (folder / "task.json").write_text("{oops")
    elif damage == "format":
        (folder / "task.json").write_text(json.dumps({**meta, "format": "other"}))
    elif damage == "unknown-key":
        (folder / "task.json").write_text(json.dumps({**meta, "surprise": 1}))
    else:
        (folder / "head.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ValueError):
        load_task(folder, tiny_model)


def test_task_spec_checks_head_kind():
    with pytest.raises(ValueError, match="needs a 'span' head"):
        TaskSpec("qa", HeadSpec("lm", 8))
    with pytest.raises(ValueError, match="task must be"):
        TaskSpec("poetry", HeadSpec("lm", 8))


def test_every_shipped_default_resolves_and_parses():
    for name in set(shipped_defaults().values()):
        folder = resolve_task(name)
        _, spec = read_spec(folder)
        assert spec.task in name or name.startswith(spec.task)


def test_unknown_task_name_lists_the_shipped_ones():
    with pytest.raises(FileNotFoundError, match="shipped"):
        resolve_task("no-such-task")
