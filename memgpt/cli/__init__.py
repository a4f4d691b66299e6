"""The ``memgpt-task`` command line (docs/architecture.md#cli).

Results go to stdout (plain text, or one JSON object per line with ``--json``); progress bars and
logs go to stderr. Errors from library code become one ``error: ...`` line on stderr and exit
code 1; bad flag values are click usage errors (exit code 2). Heavy imports (torch, the model)
happen inside the commands so that ``--help`` stays fast.

The package: ``common`` (what every command shares) and one module per command family —
``generate``, ``tasks`` (summarize, translate, classify, qa), ``train`` (finetune, pretrain),
``export``, ``eval`` (eval, bench, perplexity), ``memory``, ``weights``, ``chat``. Each imports
``common`` only; this module builds the group from them.
"""

from __future__ import annotations

import logging
import sys

import click

from memgpt import __version__
from memgpt.cli import chat, eval, export, generate, memory, tasks, train, weights
from memgpt.cli.common import TaskGroup


@click.group(cls=TaskGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="memgpt-task")
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-vv: debug).")
def cli(verbose: int) -> None:
    """Offline NLP tasks on a memory-augmented GPT backbone (SmolLM2-135M-Instruct by default).

    \b
    Examples:
      memgpt-task summarize article.txt
      memgpt-task translate "Where is the train station?"
      memgpt-task classify --labels topic article.txt
      memgpt-task qa --context doc.txt "Who founded the company?"
      memgpt-task finetune --task classify --data my.csv -o my-adapter/
      memgpt-task generate "Write a haiku about the sea" --max-new-tokens 40 --chat
      memgpt-task chat --memory notes/
      memgpt-task weights fetch
      memgpt-task memory build notes/*.txt -o notes.bank

    Results go to stdout, progress and logs to stderr. Exit codes: 0 success, 1 runtime error
    (one "error: ..." line on stderr), 2 usage error (a bad flag value).

    A TEXT|FILE|- argument is a file if it exists or ends in .txt, .md, .jsonl, .csv or .tsv
    (a missing one is an error), stdin if it is -, else the text itself.
    """
    level = logging.WARNING if not verbose else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(stream=sys.stderr, level=level, format="%(levelname)s: %(message)s",
                        force=True)




# Every command of the CLI, in one place (docs/architecture.md#cli); tests keep it in sync.
COMMANDS: dict[str, click.Command] = {
    "generate": generate.generate_cmd,
    "summarize": tasks.summarize_cmd,
    "translate": tasks.translate_cmd,
    "classify": tasks.classify_cmd,
    "qa": tasks.qa_cmd,
    "finetune": train.finetune_cmd,
    "export": export.export_cmd,
    "eval": eval.eval_cmd,
    "bench": eval.bench_cmd,
    "perplexity": eval.perplexity_cmd,
    "pretrain": train.pretrain_cmd,
    "chat": chat.chat_cmd,
    "weights": weights.weights_group,
    "memory": memory.memory_group,
}
for _name, _command in COMMANDS.items():
    cli.add_command(_command, _name)


def main() -> None:
    """Console-script entry point (``memgpt-task``)."""
    from memgpt.threads import quiet_openmp_env

    quiet_openmp_env()  # before anything imports torch (memgpt/__init__ did it too)
    cli(prog_name="memgpt-task")
