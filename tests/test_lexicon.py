"""The pronunciation dictionary's matching rules (synthesis.lexicon), and what
the real eSpeak engine speaks with it."""

import pytest

from synthesis import lexicon
from synthesis.lexicon import ESPEAK, IPA, Entry, Phonemes
from synthesis.providers.espeak import EspeakProvider


def apply(text, *entries):
    return lexicon.apply(text, entries)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Bob met Bob.", "Robert met Robert."),
        ("Bobby and Bob's", "Bobby and Robert's"),
        ("bob and BOB", "Robert and Robert"),
        ("我和Bob去", "我和Robert去"),  # no space needed next to Chinese
        ("BobBob", "BobBob"),
        ("Bob_1", "Bob_1"),  # a word goes on after the term
    ],
)
def test_whole_words_whatever_the_case(text, expected):
    assert apply(text, Entry("Bob", "Robert")) == expected


def test_a_case_sensitive_entry_matches_only_as_written():
    us = Entry("US", "United States", case_sensitive=True)
    assert apply("us and the US", us) == "us and the United States"


def test_case_sensitive_is_tried_before_ignoring_case_for_the_same_length():
    entries = [Entry("nice", "nees"), Entry("Nice", "Neece", case_sensitive=True)]
    assert lexicon.apply("Nice is nice, NICE", entries) == "Neece is nees, nees"


def test_case_folding_is_unicode_one_character_for_one():
    assert apply("STRAẞE, Straße, ΟΔΌΣ", Entry("straße", "Strasse"), Entry("οδός", "odos")) == "Strasse, Strasse, odos"
    assert apply("STRASSE", Entry("straße", "Strasse")) == "STRASSE"


def test_spaces_inside_a_term_match_any_white_space():
    assert apply("New  York and New\nYork", Entry("New York", "Noo Yawk")) == "Noo Yawk and Noo Yawk"


def test_terms_with_symbols_at_their_edges():
    assert apply("C++ or c++, not C+", Entry("C++", "C plus plus")) == "C plus plus or C plus plus, not C+"


def test_cjk_terms_match_as_written_longest_first():
    entries = [Entry("台積", "太雞"), Entry("台積電", "台積 電")]
    assert lexicon.apply("台積電和台積的股價", entries) == "台積 電和太雞的股價"
    # The order the entries are given in does not matter.
    assert lexicon.apply("台積電和台積的股價", entries[::-1]) == "台積 電和太雞的股價"


def test_replaced_text_is_not_replaced_again():
    entries = [Entry("A", "B"), Entry("B", "C")]
    assert lexicon.apply("A B", entries) == "B C"


@pytest.mark.parametrize("text", ["Japanese: 東京都に住む", "Korean: 서울에서 왔어요"])
def test_japanese_and_korean_terms_match_inside_longer_words(text):
    entries = [Entry("東京", "とうきょう"), Entry("서울", "Seoul")]
    assert "とうきょう都" in lexicon.apply(text, entries) or "Seoul에서" in lexicon.apply(text, entries)


def test_pause_markers_are_left_alone():
    entries = [Entry("pause", "paws"), Entry("停頓", "停"), Entry("ms", "milliseconds")]
    text = "A pause [pause 800ms] here [停頓 1秒] and [Pause 1.5s]."
    assert lexicon.apply(text, entries) == "A paws [pause 800ms] here [停頓 1秒] and [Pause 1.5s]."


def test_phoneme_entries_become_spans_that_providers_take_apart():
    text = apply("Mr Nguyen said", Entry("Nguyen", "w'In", ESPEAK))
    assert lexicon.has_spans(text)
    assert lexicon.pieces(text) == ["Mr ", Phonemes(ESPEAK, "w'In", "Nguyen"), " said"]
    assert lexicon.plain(text) == "Mr Nguyen said"


def test_user_text_cannot_forge_a_span():
    forged = "\ue000espeak\ue001bad\ue001x\ue002 hello"
    assert apply(forged, Entry("hello", "hi")) == "espeakbadx hi"
    assert not lexicon.has_spans(lexicon.apply(forged, []))


def test_matching_lists_only_the_entries_a_text_uses():
    entries = [
        Entry("Bob", "Robert"),
        Entry("Nguyen", "win"),
        Entry("台積電", "台積 電"),
        Entry("US", "U S", case_sensitive=True),
    ]
    used = lexicon.matching(entries, ["Hi Bobby, I am Bob.", "台積電 us"])
    assert sorted(e.written for e in used) == ["Bob", "台積電"]


@pytest.mark.parametrize(
    "fields, bad",
    [
        (("", "x", "respelling", False), "written"),
        (("x" * 101, "x", "respelling", False), "written"),
        (("...", "x", "respelling", False), "written"),
        (("a\x01b", "x", "respelling", False), "written"),
        (("word", "", "respelling", False), "spoken"),
        (("word", "x" * 201, "respelling", False), "spoken"),
        (("word", "w]]3:d", ESPEAK, False), "spoken"),
        (("word", 'w"d', IPA, False), "spoken"),
        (("word", "w", "klingon", False), "kind"),
        (("word", "w", "respelling", "yes"), "case_sensitive"),
        ((None, "w", "respelling", False), "written"),
    ],
)
def test_check_entry_names_the_bad_field(fields, bad):
    assert list(lexicon.check_entry(*fields)) == [bad]


def test_check_entry_accepts_good_entries():
    assert lexicon.check_entry("台積電", "台積 電", "respelling", False) == {}
    assert lexicon.check_entry("tomato", "təˈmɑːtoʊ", IPA, True) == {}
    assert lexicon.check_entry("tomato", "t@m'A:t#oU", ESPEAK, False) == {}


# --- the real engine ---------------------------------------------------------


@pytest.fixture(scope="module")
def espeak():
    return EspeakProvider()


def words(phonemes: str) -> list[str]:
    return phonemes.replace("_:", " ").replace("_|", " ").split()


def test_a_respelling_changes_espeaks_phonemes_for_that_word_only(espeak):
    text = "I said Nguyen twice, Nguyen, and tomato."
    before = espeak.spoken_phonemes(text, "en-us")
    after = espeak.spoken_phonemes(apply(text, Entry("Nguyen", "win")), "en-us")
    assert "n'u:jEn" in before and "n'u:jEn" not in after
    assert after.count("w'In") == 2
    # Everything else is spoken exactly as before.
    assert before.replace("n'u:jEn", "w'In") == after


def test_an_espeak_phoneme_entry_is_spoken_as_those_phonemes(espeak):
    text = "I like tomato and potato."
    before = espeak.spoken_phonemes(text, "en-us")
    after = espeak.spoken_phonemes(apply(text, Entry("tomato", "t@m'A:t#oU", ESPEAK)), "en-us")
    assert "t@m'eIt#oU" in before
    assert "t@m'A:t#oU" in after and "t@m'eIt#oU" not in after
    assert before.replace("t@m'eIt#oU", "t@m'A:t#oU") == after
    assert espeak.synthesize(apply(text, Entry("tomato", "t@m'A:t#oU", ESPEAK)), "en-us").duration_ms > 0


def test_the_texts_own_double_brackets_stay_text_next_to_dictionary_phonemes(espeak):
    text = apply("tomato [[h@l'oU]]", Entry("tomato", "t@m'A:t#oU", ESPEAK))
    spoken = espeak.spoken_phonemes(text, "en-us")
    assert "t@m'A:t#oU" in spoken
    assert "h@l'oU" not in spoken  # read as letters, not phonemes


def test_chinese_respellings_change_only_their_terms(espeak):
    entries = [Entry("台積", "太雞"), Entry("台積電", "台G電")]
    text = "台積電和台積"
    before = words(espeak.spoken_phonemes(text, "cmn"))
    after = words(espeak.spoken_phonemes(lexicon.apply(text, entries), "cmn"))
    # 台 積 電 和 台 積: the longest entry took the first three characters
    # (積 → the letter G), the shorter one the last two (台 → 太, fourth tone).
    assert before == ["th'ai35", "tS;'i55", "t'iE51n", "X'o-35", "th'ai35", "tS;'i55"]
    assert after[0] == before[0] and after[2:4] == before[2:4]
    assert after[1] != before[1] and "dZi:" in after[1]
    assert after[4] == "th'ai51" and after[5] == before[5]


def test_ipa_spans_reach_espeak_as_their_written_form(espeak):
    # eSpeak takes its own mnemonics, not IPA: the pipeline never sends it an
    # IPA span, and if one came it would be read as written.
    text = apply("tomato", Entry("tomato", "təˈmɑːtoʊ", IPA))
    assert espeak.spoken_phonemes(text, "en-us") == espeak.spoken_phonemes("tomato", "en-us")
