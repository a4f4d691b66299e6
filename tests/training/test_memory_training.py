"""memgpt.training.memory: only the memory learns, validation improves on text that repeats
beyond the window, and a rerun resumes from the checkpoint."""

import json

import torch

import memgpt
from memgpt.memory_layers import memory_info, memory_parameters
from memgpt.training.memory import train_memory


def _docs(n, seed):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        half = torch.randint(5, 500, (150,), generator=g).tolist()
        out.append(half + half)  # the second half repeats text that has left a 64-token window
    return out


def test_training_opens_gates_and_helps_on_repeats(tmp_path):
    torch.manual_seed(0)
    m = memgpt.load("tiny")
    frozen = {n: p.detach().clone() for n, p in m.named_parameters() if ".memory." not in n}
    r = train_memory(m, _docs(4, 0), _docs(2, 1), tmp_path, window=64, steps=40, accum=2,
                     lr=5e-2, valid_every=20, progress=False)
    assert r["steps"] == 40
    assert r["valid_perplexity"] < r["valid_perplexity_closed"]
    for n, p in m.named_parameters():
        if ".memory." not in n:
            assert torch.equal(p, frozen[n]), n
    assert any(p.abs().max() > 0.05 for n, p in memory_parameters(m).items() if "gate" in n)
    assert memory_info(tmp_path / "memory.safetensors")["info"]["step"] in (20, 40)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == list(range(1, 41))


def test_rerun_resumes(tmp_path):
    torch.manual_seed(0)
    m = memgpt.load("tiny")
    train_memory(m, _docs(4, 0), _docs(1, 1), tmp_path, window=64, steps=6, accum=1,
                 lr=1e-2, valid_every=3, save_every=3, progress=False)
    state = json.loads((tmp_path / "checkpoint" / "state.json").read_text())
    assert state["step"] == 6
    m2 = memgpt.load("tiny")
    r = train_memory(m2, _docs(4, 0), _docs(1, 1), tmp_path, window=64, steps=9, accum=1,
                     lr=1e-2, valid_every=3, save_every=3, progress=False)
    assert r["steps"] == 9
    log = [json.loads(line)["step"] for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert log == list(range(1, 10))
