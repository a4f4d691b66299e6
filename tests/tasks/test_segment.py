"""Sentence segmentation for translation (memgpt.tasks.segment)."""

from __future__ import annotations

from memgpt.tasks.segment import needs_translation, segment, split_sentences, translate_segmented


def test_sentences_split_at_ends_but_not_at_abbreviations_initials_or_decimals():
    text = "Dr. Smith came at 3.30 p.m. on Monday. J. R. Tolkien wrote it! Did he? Yes."
    got = [s for s, _ in split_sentences(text)]
    assert got == ["Dr. Smith came at 3.30 p.m. on Monday.", "J. R. Tolkien wrote it!",
                   "Did he?", "Yes."]
    assert "".join(s + sep for s, sep in split_sentences(text)) == text


def test_segmented_translation_keeps_spacing_and_copies_untranslatable_pieces():
    text = "Hello there. How are you?\n\n  42\nSee https://x.org now.\nfoo_bar(x)"
    seen = []

    def fake(pieces):
        seen.extend(pieces)
        return [f"<{p}>" for p in pieces]

    out = translate_segmented([text], fake)[0]
    assert out == "<Hello there.> <How are you?>\n\n  42\n<See https://x.org now.>\nfoo_bar(x)"
    assert seen == ["Hello there.", "How are you?", "See https://x.org now."]


def test_pieces_without_words_are_not_translated():
    assert not needs_translation("42")
    assert not needs_translation("https://example.org/a_b")
    assert not needs_translation("x = f(y_1)")
    assert needs_translation("I like tea.")
    assert [p.translate for p in segment("")] == []
