"""Whole-word QA spans (memgpt.tasks.text.word_bounds / pick_span)."""

from __future__ import annotations

import numpy as np

from memgpt.tasks.text import QAWindow, pick_span, word_bounds


def test_word_bounds_mark_word_starts_and_ends():
    context = "The Harbor opened, in 1854."
    # tokens: "The", " Harb", "or", " opened", ",", " in", " 1854", "."
    offsets = [(0, 3), (3, 8), (8, 10), (10, 17), (17, 18), (18, 21), (21, 26), (26, 27)]
    starts, ends = word_bounds(context, offsets)
    assert starts.tolist() == [True, True, False, True, True, True, True, True]
    assert ends.tolist() == [True, False, True, True, True, True, True, True]


def test_pick_span_never_returns_a_piece_of_a_word():
    context = "The Harbor opened"
    offsets = [(0, 3), (3, 8), (8, 10), (10, 17)]
    starts, ends = word_bounds(context, offsets)
    win = QAWindow([0, 0] + [1, 2, 3, 4], 2, 0, 4, starts, ends)
    start = np.array([-9, -9, 0, 1, 9, 0], dtype=np.float32)  # the head likes "or" best
    end = np.array([-9, -9, 0, 0, 9, 0], dtype=np.float32)
    prob, t0, t1 = pick_span(None, [win], start[None], end[None], 30)
    assert (t0, t1) == (1, 2)  # " Harb" + "or": the whole word "Harbor"
    assert 0 < prob <= 1
    # without word bounds the head's favourite sub-word piece would win
    plain = QAWindow(win.ids, 2, 0, 4)
    assert pick_span(None, [plain], start[None], end[None], 30)[1:] == (2, 2)
