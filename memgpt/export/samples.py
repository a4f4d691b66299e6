"""Sample inputs of the exporter and the validator: texts, a QA pair, graph feeds, a random bank.

The exporter traces its graphs with :func:`tracing_feeds` (batch 2, padding, a non-empty cache);
the validator runs torch and onnxruntime side by side on :data:`SAMPLE_TEXTS` and
:data:`SAMPLE_QA`, feeding the decoder with :func:`decoder_feeds`.
"""

from __future__ import annotations

import numpy as np
import torch

from memgpt.decoding import right_pad
from memgpt.export import specs
from memgpt.model import MemoryState

SAMPLE_TEXTS = (
    "The city council approved a new budget on Tuesday after a long debate about school "
    "funding, road repairs and the cost of public transport.",
    "I bought this kettle last week and it already leaks.",
)
SAMPLE_QA = ("Who approved the budget?", SAMPLE_TEXTS[0])
# More varied inputs for the agreement of a quantized export with torch (specs.MIN_AGREEMENT).
AGREEMENT_TEXTS = SAMPLE_TEXTS + (
    "Where is the train station?",
    "The museum was founded in 1912 by Eliza Moreton and now holds over 4,000 paintings.",
    "Shares in the company fell sharply after it warned that profits would be lower this year.",
    "I really enjoyed the film, although the ending was a little slow.",
    "Please restart the pump before you open the valve, and check the pressure gauge.",
    "The striker scored twice in the second half to win the match for his team.",
)
AGREEMENT_QA = (
    SAMPLE_QA,
    ("When was the museum founded?", AGREEMENT_TEXTS[3]),
    ("Who founded the museum?", AGREEMENT_TEXTS[3]),
    ("What fell sharply?", AGREEMENT_TEXTS[4]),
    ("What should you restart?", AGREEMENT_TEXTS[6]),
    ("How many times did the striker score?", AGREEMENT_TEXTS[7]),
    ("What did the council approve?", SAMPLE_TEXTS[0]),
    ("What leaks?", SAMPLE_TEXTS[1]),
)


def decoder_feeds(config, ids: np.ndarray, mask: np.ndarray, past: list[np.ndarray] | None,
                  bank: MemoryState | None) -> dict[str, np.ndarray]:
    """Named inputs of a decoder call: prefill when ``past`` is None (P = 0)."""
    b, t = ids.shape
    if past is None:
        empty = np.zeros((b, config.n_kv_heads, 0, config.head_dim), dtype=np.float32)
        past = [empty] * (2 * config.n_layers)
    p = past[0].shape[2]
    pos = (np.cumsum(mask, -1) - 1).clip(min=0)[:, p:]
    feeds = {"input_ids": ids, "attention_mask": mask, "position_ids": pos.astype(np.int64)}
    names = specs.graph_spec("decoder", n_layers=config.n_layers).inputs[3:]
    feeds.update(dict(zip(names, past)))
    if bank is not None:
        feeds["memory_keys"] = bank.keys.float().numpy()
        feeds["memory_values"] = bank.values.float().numpy()
    return feeds


def random_bank(cfg, n: int) -> MemoryState:
    g = torch.Generator().manual_seed(0)
    shape = (len(cfg.memory.layers), n, cfg.n_kv_heads, cfg.head_dim)
    return MemoryState(torch.randn(shape, generator=g), torch.randn(shape, generator=g))


def tracing_feeds(cfg, kind: str, tok, bank: MemoryState | None) -> dict[str, np.ndarray]:
    """Inputs to trace with: batch 2, padding, and (decoder) a non-empty cache."""
    rows = [tok.encode(SAMPLE_TEXTS[0])[:6], tok.encode(SAMPLE_TEXTS[1])[:4]]
    ids, mask = right_pad(rows, tok.pad_id, left=kind == "decoder")
    if kind != "decoder":
        return {"input_ids": ids, "attention_mask": mask}
    rng = np.random.default_rng(0)
    past = [rng.standard_normal((2, cfg.n_kv_heads, 3, cfg.head_dim)).astype(np.float32)
            for _ in range(2 * cfg.n_layers)]
    mask = np.concatenate([np.ones((2, 3), dtype=np.int64), mask], 1)
    return decoder_feeds(cfg, ids, mask, past, bank)
