"""The README's task examples give right answers on the shipped defaults (slow: the real
SmolLM2 weights, fetched once into the cache; `memgpt-task weights fetch`)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from memgpt.cli import cli

pytestmark = pytest.mark.slow

MUSEUM = ("The Harbor Museum was founded by Clara Webb in 1921. It stands on Pier Street in "
          "Port Alden. Its current director is Tomas Reyes. The museum holds 340 model ships.")
UNSEEN = ("The Rhine bridge at Kessel was opened in 1911 by the engineer Anna Vogt. It carried "
          "trains until 1962, when a flood damaged two of its piers. The town rebuilt it as a "
          "footbridge in 1970, and it is now a protected monument visited by cyclists.")


def run(*args: str) -> str:
    r = CliRunner().invoke(cli, list(args), prog_name="memgpt-task")
    assert r.exit_code == 0, r.output
    return r.stdout.strip()


MISS = "a known miss of the shipped default (README Status): strict, so a fix shows up"


@pytest.mark.parametrize("args,check", [
    (["translate", "Where is the train station?"],  # "¿Dónde está el estación de tren?"
     lambda out: "dónde" in out.lower() and "estación de tren" in out.lower()),
    pytest.param(["translate", "Good morning"], lambda out: "buenos días" in out.lower(),
                 marks=pytest.mark.xfail(strict=True, reason=MISS)),  # "¡Buena mañana!"
    (["classify", "I loved it"], lambda out: out.startswith("positive")),
    (["classify", "--labels", "spam", "Free entry! Reply WIN to get your free ringtone"],
     lambda out: out.startswith("spam")),
    (["classify", "--labels", "topic", "The striker scored twice as United beat Leeds 3-1 in "
      "the league on Saturday."], lambda out: out.startswith("sport")),
    (["qa", "--context", MUSEUM, "Who founded the museum?"], lambda out: out == "Clara Webb"),
    (["qa", "--context", MUSEUM, "When was the museum founded?"], lambda out: out == "1921"),
    (["qa", "--context", MUSEUM, "Who is the director?"], lambda out: out == "Tomas Reyes"),
    (["qa", "--context", MUSEUM, "How many model ships does the museum hold?"],
     lambda out: out == "340"),
])
def test_documented_examples_answer_right(args, check):
    out = run(*args)
    assert check(out), out


def test_summary_of_unseen_text_keeps_names_and_numbers():
    row = json.loads(run("summarize", UNSEEN, "--json"))
    s = row["summary"]
    assert 1 <= s.count(".") <= 4 and 8 <= len(s.split()) <= 90, s
    assert "1911" in s and ("Kessel" in s or "Rhine" in s), s
    head = run("summarize", UNSEEN, "--style", "headline")
    assert 2 <= len(head.split()) <= 20 and "\n" not in head, head
