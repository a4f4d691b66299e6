"""Conversation memory: is a fact stated early recalled after it has left a small window?

    python benchmarks/chat_recall.py                          # 60 conversations, window 128
    python benchmarks/chat_recall.py --n 10 --seed 1 --out /tmp/chat-dev   # a dev set
    python benchmarks/chat_recall.py --runtime onnx --export EXPORT_DIR

Each conversation is scripted (``conversations(n, seed)``): the user states two facts about
themselves (a name, a pet, a city, an appointment ... drawn from 22 kinds, with values that are
hard to guess), asks three unrelated questions, then asks for the first fact. The model's own
replies make up the assistant turns (greedy, ``--filler-tokens`` tokens each), with a
``--window``-token context, so that the fact has left the window when it is asked for (checked
per conversation: ``fact_in_window``). The final question is then asked, on the same history,
four ways:

* ``memory`` — ``memgpt-task chat`` as shipped: exchanges that left the window are recalled
  (BM25) into the prompt, and the memory reader (the shipped extractive QA task) quotes the
  user statement that holds the answer when it finds one among the best-matching statements;
* ``memory-prompt`` — ``--reader none``: the recalled exchanges in the prompt only;
* ``window`` — ``--no-recall``: the window only;
* ``full`` — no window limit (the whole conversation in the prompt): the ceiling.

A reply counts as recalling the fact when it contains the fact's value (case-insensitive; a
number also as digits). Also reported: whether the memory retrieved the fact's exchange.
A control question (an unrelated one, asked at the same point with memory on) counts how often
the reader quotes when it should not. Writes OUT/results.json (per conversation) and
OUT/results.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import sys
import time
from pathlib import Path

from common import git_revision

# kind: (statements, questions, values). {v} is the value; every question asks for it.
FACTS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "name": (("Hi! My name is {v}.", "Hello, I'm {v}, nice to meet you."),
             ("What is my name?", "Do you remember my name?"),
             ("Tomasz", "Priya", "Oluwaseun", "Henrike", "Saoirse", "Bartholomew", "Ingeborg")),
    "dog": (("I have a dog called {v}.", "My dog's name is {v}."),
            ("What is my dog called?", "What's the name of my dog?"),
            ("Biscuit", "Pickle", "Juniper", "Waffles", "Noodle", "Pretzel")),
    "city": (("I live in {v}.", "I moved to {v} last year and I live there now."),
             ("Which city do I live in?", "Where do I live?"),
             ("Tampere", "Valparaiso", "Ghent", "Hobart", "Trondheim", "Arequipa")),
    "job": (("I work as a {v}.", "My job: I am a {v}."),
            ("What is my job?", "What do I work as?"),
            ("pharmacist", "geologist", "locksmith", "beekeeper", "welder", "cartographer")),
    "colour": (("My favourite colour is {v}.", "I love the colour {v}, it is my favourite."),
               ("What is my favourite colour?", "Which colour do I like most?"),
               ("teal", "maroon", "lavender", "ochre", "turquoise", "magenta")),
    "sister": (("My sister is called {v}.", "I have a sister named {v}."),
               ("What is my sister's name?", "What is my sister called?"),
               ("Rosalind", "Fatima", "Clodagh", "Marisol", "Agnieszka")),
    "car": (("I drive a {v}.", "My car is a {v}."),
            ("What car do I drive?", "What kind of car do I have?"),
            ("Subaru", "Skoda", "Peugeot", "Mazda", "Lancia")),
    "birthday": (("My birthday is in {v}.", "I was born in the month of {v}."),
                 ("When is my birthday?", "In which month is my birthday?"),
                 ("March", "October", "July", "February", "November")),
    "food": (("My favourite food is {v}.", "I could eat {v} every day, it is my favourite food."),
             ("What is my favourite food?", "Which food do I like best?"),
             ("lasagne", "ramen", "falafel", "pierogi", "paella", "goulash")),
    "appointment": (("My dentist appointment is at {v} tomorrow.",
                     "Remember that I see the dentist at {v} tomorrow."),
                    ("What time is my dentist appointment?", "When do I see the dentist?"),
                    ("9:40", "14:15", "11:35", "16:45", "8:20")),
    "instrument": (("I play the {v}.", "I have played the {v} since I was a child."),
                   ("Which instrument do I play?", "What instrument do I play?"),
                   ("cello", "oboe", "banjo", "trombone", "harp", "bassoon")),
    "cat": (("My cat is named {v}.", "I have a cat called {v}."),
            ("What is my cat's name?", "What is my cat called?"),
            ("Mochi", "Ziggy", "Tofu", "Marmalade", "Pistachio")),
    "team": (("I support {v} in football.", "My football team is {v}."),
             ("Which football team do I support?", "What is my football team?"),
             ("Celtic", "Ajax", "Benfica", "Napoli", "Galatasaray")),
    "language": (("I am learning {v} at the moment.", "These days I study {v} every evening."),
                 ("Which language am I learning?", "What language do I study?"),
                 ("Portuguese", "Korean", "Finnish", "Swahili", "Icelandic")),
    "allergy": (("I am allergic to {v}.", "Please remember I have an allergy to {v}."),
                ("What am I allergic to?", "What is my allergy?"),
                ("peanuts", "shellfish", "penicillin", "sesame", "kiwi")),
    "born": (("I was born in {v}.", "My hometown is {v}, where I was born."),
             ("Where was I born?", "What is my hometown?"),
             ("Dundee", "Nairobi", "Osaka", "Cordoba", "Tbilisi")),
    "flight": (("My flight number is {v}.", "I fly tomorrow on flight {v}."),
               ("What is my flight number?", "Which flight am I on?"),
               ("BA284", "LH1732", "KL603", "IB3150", "AY917")),
    "son": (("My son is {v} years old.", "I have a son who is {v} years old."),
            ("How old is my son?", "What age is my son?"),
            ("seven", "eleven", "four", "nine", "thirteen")),
    "manager": (("My manager's name is {v}.", "I report to a manager called {v}."),
                ("What is my manager's name?", "Who is my manager?"),
                ("Gustavo", "Beatrix", "Kwame", "Lorna", "Radoslav")),
    "locker": (("My locker number is {v}.", "I keep my things in locker {v}."),
               ("What is my locker number?", "Which locker is mine?"),
               ("318", "1207", "96", "455", "2719")),
    "hobby": (("On weekends I go {v}.", "My hobby is {v}, I do it every weekend."),
              ("What do I do on weekends?", "What is my hobby?"),
              ("bouldering", "kayaking", "birdwatching", "geocaching", "orienteering")),
    "plant": (("I grow {v} on my balcony.", "There are {v} growing on my balcony."),
              ("What do I grow on my balcony?", "What is growing on my balcony?"),
              ("tomatoes", "chillies", "strawberries", "sunflowers", "lemons")),
}

FILLERS = (
    "Can you suggest a good way to start running?", "How do I boil an egg?",
    "What is the capital of Japan?", "Give me a tip for sleeping better.", "Why is the sky blue?",
    "How many legs does a spider have?", "What is a quick breakfast idea?",
    "Tell me a fun fact about octopuses.", "How do plants make their food?",
    "What should I pack for a beach trip?", "How can I keep my desk tidy?",
    "What is the tallest mountain in the world?", "Write one sentence about autumn.",
    "How do I make a cup of tea?", "What is photosynthesis in simple words?",
    "Can you recommend a board game for four people?", "How far is the Moon from the Earth?",
    "What does a bee do in a hive?", "Give me a short motivational quote.",
    "How do I remove a coffee stain?", "What is the largest ocean?",
    "How do rainbows form?", "What are some easy exercises for the back?",
    "Why do cats purr?", "Explain what a volcano is.", "What is the boiling point of water?",
    "How should I water a cactus?", "What is a haiku?", "How do airplanes stay in the air?",
    "Give me an idea for a weekend trip.",
)
NUMBERS = {"four": "4", "seven": "7", "nine": "9", "eleven": "11", "thirteen": "13"}
MODES = ("memory", "memory-prompt", "window", "full")


def conversations(n: int, seed: int) -> list[dict]:
    """``n`` scripted conversations: two facts of different kinds, three fillers, a question
    about the first fact."""
    rng = random.Random(seed)
    kinds = sorted(FACTS)
    out = []
    for i in range(n):
        k1, k2 = rng.sample(kinds, 2)
        s1, q1, v1 = FACTS[k1]
        s2, _, v2 = FACTS[k2]
        value = rng.choice(v1)
        fact = rng.choice(s1).format(v=value)
        other = rng.choice(s2).format(v=rng.choice(v2))
        fillers = rng.sample(FILLERS, 3)
        user_turns = [fact, fillers[0], other, fillers[1], fillers[2]]
        control = rng.choice([f for f in FILLERS if f not in fillers])
        out.append({"id": i, "kind": k1, "value": value, "turns": user_turns,
                    "question": rng.choice(q1), "control_question": control})
    return out


def recalled(reply: str, value: str) -> bool:
    text = reply.lower()
    wants = [value.lower()] + ([NUMBERS[value]] if value in NUMBERS else [])
    return any(re.search(rf"(?<![\w]){re.escape(w)}(?![\w])", text) for w in wants)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--window", type=int, default=128)
    ap.add_argument("--filler-tokens", type=int, default=32)
    ap.add_argument("--answer-tokens", type=int, default=32)
    ap.add_argument("--weights", default="smollm2-135m")
    ap.add_argument("--runtime", choices=("torch", "onnx"), default="torch")
    ap.add_argument("--export", default=None, help="chat export folder (--runtime onnx)")
    ap.add_argument("--reader-export", default=None,
                    help="qa export folder for the reader (--runtime onnx; default: the cache)")
    ap.add_argument("--reader-scope", choices=("matched", "recalled", "said"),
                    default="matched")
    ap.add_argument("--threshold", type=float, default=None,
                    help="the reader's threshold (default: memgpt.chat.READER_THRESHOLD)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default="benchmarks/results/chat-recall")
    args = ap.parse_args(argv)

    from memgpt.chat import ChatSession, OnnxChat, TorchChat
    from memgpt.decoding import GenerationConfig
    from memgpt.threads import resolve_threads, set_threads

    threads = set_threads(resolve_threads(args.threads))
    if args.threshold is None:
        from memgpt.chat import READER_THRESHOLD

        args.threshold = READER_THRESHOLD
    if args.runtime == "onnx":
        from memgpt.export.cache import find_export
        from memgpt.export.runtime import ExportedTask

        backend = OnnxChat(args.export)
        reader = ExportedTask(args.reader_export or find_export("qa"))
    else:
        from memgpt.checkpoint import load_model, load_tokenizer
        from memgpt.cli.common import load_for_task
        from memgpt.tasks.pipelines import TorchTask

        backend = TorchChat(load_model(args.weights), load_tokenizer(args.weights))
        reader = TorchTask(*load_for_task("qa", "qa", args.weights, "cpu"))
    filler = GenerationConfig(max_new_tokens=args.filler_tokens, repetition_penalty=1.1)
    answer = GenerationConfig(max_new_tokens=args.answer_tokens, repetition_penalty=1.1)
    rows, t0 = [], time.perf_counter()
    convs = conversations(args.n, args.seed)
    for c in convs:
        s = ChatSession(backend, window=args.window, memory=False, settings=filler)
        for u in c["turns"]:
            s.ask(u)
        history = list(s.turns)
        row = {**c, "history": history}
        for mode in (*MODES, "control"):
            q = ChatSession(backend, window=None if mode == "full" else args.window,
                            memory=mode.startswith("memory") or mode == "control",
                            settings=answer, reader_threshold=args.threshold,
                            reader=(lambda: reader) if mode in ("memory", "control") else None,
                            reader_scope=args.reader_scope)
            q.turns = list(history)
            r = q.ask(c["control_question"] if mode == "control" else c["question"])
            row[mode] = {"reply": r.reply, "recalled": recalled(r.reply, c["value"]),
                         "recalled_turns": r.recalled, "prompt_tokens": r.prompt_tokens,
                         "remembered": r.remembered, "seconds": round(r.seconds, 3)}
            if mode == "window":
                row["fact_in_window"] = q.visible_from == 0
            if mode == "memory":
                row["retrieved_fact"] = 0 in r.recalled
        rows.append(row)
        print(f"[{len(rows)}/{len(convs)}] {c['kind']}={c['value']}: " + "  ".join(
            f"{m}={'Y' if row[m]['recalled'] else 'n'}" for m in MODES), file=sys.stderr,
            flush=True)
    seconds = time.perf_counter() - t0
    n = len(rows)
    out_of_window = [r for r in rows if not r["fact_in_window"]]
    summary = {m: round(100 * sum(r[m]["recalled"] for r in rows) / n, 1) for m in MODES}
    summary["retrieved_fact"] = round(100 * sum(r["retrieved_fact"] for r in rows) / n, 1)
    summary["quoted"] = round(100 * sum(r["memory"]["remembered"] is not None for r in rows)
                              / n, 1)
    summary["control_quoted"] = round(100 * sum(r["control"]["remembered"] is not None
                                                for r in rows) / n, 1)
    summary["fact_out_of_window"] = f"{len(out_of_window)}/{n}"
    summary["mean_prompt_tokens"] = {m: round(sum(r[m]["prompt_tokens"] for r in rows) / n, 1)
                                     for m in MODES}
    rev = git_revision()
    meta = {"command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]),
            "revision": rev, "n": n, "seed": args.seed, "window": args.window,
            "filler_tokens": args.filler_tokens, "answer_tokens": args.answer_tokens,
            "weights": args.weights, "runtime": args.runtime, "threads": threads,
            "reader_threshold": args.threshold, "reader_scope": args.reader_scope,
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "seconds": round(seconds, 1)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"meta": meta, "summary": summary,
                                                  "conversations": rows}, indent=1,
                                                 ensure_ascii=False) + "\n", encoding="utf-8")
    md = [f"# Chat: recall of a fact that left a {args.window}-token window", "",
          f"`{meta['command']}` (revision {rev}, {args.runtime}, {threads} threads, "
          f"{meta['seconds']} s)", "",
          f"{n} scripted conversations (seed {args.seed}): a fact stated in the first turn, "
          "another fact and three unrelated questions after it, then a question about the first "
          f"fact. The fact was outside the window when asked in {len(out_of_window)}/{n}.", "",
          "| prompt | fact recalled in the reply | mean prompt tokens |", "|---|---:|---:|",
          f"| with conversation memory, as shipped (window {args.window} + recalled exchanges + "
          f"the reader) | {summary['memory']}% | {summary['mean_prompt_tokens']['memory']} |",
          f"| memory in the prompt only (`--reader none`) | {summary['memory-prompt']}% | "
          f"{summary['mean_prompt_tokens']['memory-prompt']} |",
          f"| without memory (window {args.window} only, `--no-recall`) | {summary['window']}% |"
          f" {summary['mean_prompt_tokens']['window']} |",
          f"| whole conversation in the prompt (no window; ceiling) | {summary['full']}% | "
          f"{summary['mean_prompt_tokens']['full']} |", "",
          f"The memory retrieved the fact's exchange in {summary['retrieved_fact']}% of the "
          f"conversations; the reader quoted a recalled turn in {summary['quoted']}% (threshold "
          f"{args.threshold}). Control: an unrelated question asked at the same point, with "
          f"memory on, got a quote in {summary['control_quoted']}% of the conversations "
          "(a quote there is a false alarm).", "",
          "By kind (memory / memory-prompt / window / full, recalled of asked):", ""]
    for kind in sorted({r["kind"] for r in rows}):
        rs = [r for r in rows if r["kind"] == kind]
        md.append(f"* {kind}: " + " / ".join(str(sum(r[m]["recalled"] for r in rs))
                                              for m in MODES) + f" of {len(rs)}")
    misses = [r for r in rows if not r["memory"]["recalled"]][:8]
    if misses:
        md += ["", "Misses with memory (first 8):", ""]
        md += [f"* {r['question']} ({r['value']}) → {r['memory']['reply']!r}" for r in misses]
    (out / "results.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
