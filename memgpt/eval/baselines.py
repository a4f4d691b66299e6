"""Simple, seeded, offline baselines that every evaluation report sets the model against.

* summarize: :func:`lead_baseline` (the first sentence(s); lead-1 is the standard baseline for
  headline-style references).
* translate: :func:`copy_baseline` and :func:`dictionary_baseline` (word-by-word, learned from
  the parallel training data by Dice co-occurrence).
* classify: :class:`TfidfLogReg` (TF-IDF uni+bigrams + logistic regression).
* qa: :func:`sliding_window_qa` (the lexical sliding window of Richardson et al., 2013).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, chain

from memgpt.eval.metrics import import_optional, split_sentences


# ---------------------------------------------------------------------------- summarize
def lead_baseline(texts: Sequence[str], *, n_sentences: int = 1) -> list[str]:
    """The first ``n_sentences`` sentences of each text (:func:`split_sentences`), space-joined."""
    if n_sentences < 1:
        raise ValueError(f"n_sentences must be >= 1, got {n_sentences}")
    return [" ".join(split_sentences(t)[:n_sentences]) for t in texts]


# ---------------------------------------------------------------------------- translate
_TOKEN = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
_NO_SPACE_BEFORE = re.compile(r" ([.,!?;:%)\]}»])")
_NO_SPACE_AFTER = re.compile(r"([¿¡(\[{«]) ")


def copy_baseline(texts: Sequence[str]) -> list[str]:
    """The source text itself (names, numbers and cognates score above zero)."""
    return list(texts)


def _words(text: str) -> set[str]:
    return {t for t in _TOKEN.findall(text.lower()) if t[0].isalnum()}


@dataclass(frozen=True)
class DictionaryBaseline:
    """Word-by-word translation with a learned table; unknown words and punctuation are copied."""

    table: dict[str, str] = field(default_factory=dict)

    def translate(self, text: str) -> str:
        out = []
        for tok in _TOKEN.findall(text):
            word = self.table.get(tok.lower(), tok)
            # keep the source's capitalisation ("Paris" stays capitalised, "The" -> "El")
            out.append(word[:1].upper() + word[1:] if tok[:1].isupper() else word)
        s = _NO_SPACE_BEFORE.sub(r"\1", " ".join(out))
        return _NO_SPACE_AFTER.sub(r"\1", s)

    def __call__(self, texts: Sequence[str]) -> list[str]:
        return [self.translate(t) for t in texts]


def dictionary_baseline(train_pairs: Iterable[tuple[str, str]], *, max_vocab: int = 20000,
                        min_count: int = 1) -> DictionaryBaseline:
    """Learn a one-to-one word table from parallel sentences by Dice co-occurrence.

    Each source word ``s`` (the ``max_vocab`` most frequent, seen in ``>= min_count`` pairs) maps
    to the target word ``t`` maximising ``Dice(s, t) = 2 c(s, t) / (c(s) + c(t))`` (Smadja et al.,
    1996), counts being numbers of sentence pairs (words lower-cased, counted once per
    sentence). Only target words of pairs where ``s`` occurs are candidates, so the work is one
    pass over those pairs per source word. Ties go to the more frequent, then alphabetically
    first, target word: the table is deterministic.
    """
    src_sets, tgt_sets = [], []
    for src, tgt in train_pairs:
        src_sets.append(_words(src))
        tgt_sets.append(_words(tgt))
    src_count = Counter(chain.from_iterable(src_sets))
    tgt_count = Counter(chain.from_iterable(tgt_sets))
    vocab = {w for w, c in src_count.most_common(max_vocab) if c >= min_count}
    where: dict[str, list[int]] = defaultdict(list)
    for i, words in enumerate(src_sets):
        for w in words & vocab:
            where[w].append(i)
    table = {}
    for s in sorted(where):
        co = Counter(chain.from_iterable(tgt_sets[i] for i in where[s]))
        cs = src_count[s]
        table[s] = min(co, key=lambda t: (-2 * co[t] / (cs + tgt_count[t]), -tgt_count[t], t))
    return DictionaryBaseline(table)


# ---------------------------------------------------------------------------- classify
class TfidfLogReg:
    """TF-IDF (word uni+bigrams, sublinear tf) + logistic regression; fixed C, no tuning."""

    def __init__(self, *, c: float = 10.0, seed: int = 0) -> None:
        text = import_optional("sklearn.feature_extraction.text")
        linear = import_optional("sklearn.linear_model")
        self.vectorizer = text.TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
        self.model = linear.LogisticRegression(C=c, max_iter=1000, random_state=seed)

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> TfidfLogReg:
        if len(texts) != len(labels) or not texts:
            raise ValueError(f"need as many labels as texts (>0): {len(texts)} != {len(labels)}")
        if len(set(labels)) < 2:
            raise ValueError("need at least two distinct labels to fit a classifier")
        self.model.fit(self.vectorizer.fit_transform(texts), [str(x) for x in labels])
        return self

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [str(x) for x in self.model.predict(self.vectorizer.transform(texts))]


# ---------------------------------------------------------------------------- qa
_QWORD = re.compile(r"[^\W_]+")  # letters/digits only: the cloze blank "_____" is not a word
_CAP_WORD = r"[A-Z](?:[\w'’&-]|\.(?=\w))*"  # "U.S" but not "Obama." of "Obama. Prices"
_NUMBER = r"[$£€]?\d[\d,.]*(?:%|(?:bn|m|k)(?!\w))?"  # "1961", "$5.5bn", "3%"
_CANDIDATE = re.compile(rf"{_NUMBER}|{_CAP_WORD}(?:[ \t]+{_CAP_WORD})*")
_STOP = frozenset("a an the and or but if in on at of to for by with from as it its he she "
                  "they we i you his her their our this that these those there here when "
                  "while after before then so not no yes mr mrs ms dr".split())


def sliding_window_qa(question: str, context: str, *, window: int | None = None
                      ) -> tuple[str, int, int]:
    """Extract an answer span with a lexical sliding window (after Richardson et al., 2013).

    The rule, exactly:

    1. Context words (runs of letters/digits, lower-cased) weigh ``IC(w) = log(1 + 1/C(w))``,
       ``C(w)`` the word's count in the context (the paper's inverse count).
    2. Candidates are the context's numbers ("1961", "$5.5bn", "3%") and runs of capitalised
       words, less leading/trailing words that are in the question or are stop words
       ("The U.S. Army" -> "U.S. Army"; "Michelle Obama" -> "Michelle" when the question names
       Obama). Candidates left empty are skipped.
    3. A candidate occurrence scores the best ``IC`` sum of the question's words over a
       ``window``-word span containing it; ``window`` defaults to ``|S|``, ``S`` = question words
       + candidate words, as in the paper. Unlike the paper, the candidate's own words are not
       counted (they would favour long and rare candidates).
    4. The highest score wins; ties go to the candidate nearest (in words) to a question word,
       then to the earliest. Without candidates the first context word that is neither in the
       question nor a stop word (else the first word) is the answer.

    Returns:
        ``(answer, start, end)`` with ``context[start:end] == answer``; ``("", 0, 0)`` for a
        context without words.
    """
    toks = [(m.group().lower(), m.start(), m.end()) for m in _QWORD.finditer(context)]
    if not toks:
        return "", 0, 0
    q = {w.lower() for w in _QWORD.findall(question)}
    counts = Counter(w for w, _, _ in toks)
    prefix = [0.0, *accumulate(math.log(1 + 1 / counts[w]) if w in q else 0.0
                               for w, _, _ in toks)]
    q_at = [i for i, (w, _, _) in enumerate(toks) if w in q]
    starts = [s for _, s, _ in toks]
    best: tuple[float, int, int, int] | None = None  # (-score, distance, start, end)
    for start, end in _candidates(context, q):
        first = bisect_right(starts, start) - 1
        last = bisect_right(starts, end - 1) - 1
        a = {w for w, _, _ in toks[first:last + 1]}
        score = _window_score(prefix, first, last, window or len(q | a))
        dist = min((max(first - i, i - last) for i in q_at), default=len(toks))
        key = (-score, dist, start, end)
        best = key if best is None or key < best else best
    if best is None:
        _, s, e = next((t for t in toks if t[0] not in q and t[0] not in _STOP), toks[0])
        return context[s:e], s, e
    return context[best[2]:best[3]], best[2], best[3]


def _candidates(context: str, question_words: set[str]) -> list[tuple[int, int]]:
    """Character spans of the candidate answers (rule 2 of :func:`sliding_window_qa`)."""
    out = []
    for m in _CANDIDATE.finditer(context):
        start, end = m.start(), m.start() + len(m.group().rstrip(".,-'’ "))
        words = list(_QWORD.finditer(context, start, end))
        drop = lambda w: w.group().lower() in question_words or w.group().lower() in _STOP
        i, j = 0, len(words)
        while i < j and drop(words[i]):
            i += 1
        while j > i and drop(words[j - 1]):
            j -= 1
        if i == j:
            continue
        if (i, j) != (0, len(words)):  # trimmed: the span is the remaining words
            start, end = words[i].start(), words[j - 1].end()
        out.append((start, end))
    return out


def _window_score(prefix: list[float], first: int, last: int, size: int) -> float:
    """Best window sum (``prefix``: cumulative weights) over ``size``-word windows that cover
    words ``first..last``."""
    n, size = len(prefix) - 1, max(size, last - first + 1)
    lo, hi = max(0, last - size + 1), min(first, max(0, n - size))
    return max(prefix[min(s + size, n)] - prefix[s] for s in range(lo, hi + 1))
