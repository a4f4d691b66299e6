"""Chat backends: anything with tokenizer, max_seq_len and stepper() (a
:class:`memgpt.decoding.Stepper`). :class:`TorchChat` runs a MemGPT; :class:`OnnxChat` an
exported decoder (memgpt-task export --task chat), without torch.
"""

from __future__ import annotations

import os
from typing import Any


class TorchChat:
    """The torch backend: a ``MemGPT`` and its tokenizer."""

    runtime = "torch"

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.max_seq_len = int(model.config.max_seq_len)

    def stepper(self) -> Any:
        from memgpt.generate import TorchStepper

        return TorchStepper(self.model)


class OnnxChat:
    """The onnxruntime backend: an exported decoder (``memgpt-task export --task chat``)."""

    runtime = "onnx"

    def __init__(self, folder: str | os.PathLike, *, device: str = "cpu") -> None:
        from memgpt.export.runtime import ExportedTask, ExportFolderError

        self.task = ExportedTask(folder, device=device)
        if self.task.graph.kind != "decoder":
            raise ExportFolderError(f"{folder} is a {self.task.task} export ({self.task.graph.kind}"
                                    "), not a decoder: export one with `memgpt-task export "
                                    "--task chat`")
        self.tokenizer = self.task.tokenizer
        self.max_seq_len = int(self.task.graph.settings["model"]["max_seq_len"])

    def stepper(self) -> Any:
        from memgpt.export.runtime import OnnxStepper

        return OnnxStepper(self.task.graph, self.tokenizer.pad_id)
