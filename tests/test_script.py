"""Parsing "Speaker: text" scripts into turns (no database)."""

import pytest

from synthesis.script import ScriptError, Turn, format_script, parse_script, read_script, speakers_of


def test_one_line_per_turn():
    turns = parse_script("Alice: Hi Bob.\nBob: Hello, Alice!\nCarol: Morning.")
    assert turns == [Turn("Alice", "Hi Bob.", 1), Turn("Bob", "Hello, Alice!", 2), Turn("Carol", "Morning.", 3)]
    assert speakers_of(turns) == ["Alice", "Bob", "Carol"]


def test_line_without_speaker_continues_the_turn_and_blank_lines_are_ignored():
    turns = parse_script("\nAlice: It was late.\n  And raining.\n\n\nBob:\nSo?\n")
    assert turns == [Turn("Alice", "It was late. And raining.", 2), Turn("Bob", "So?", 6)]


@pytest.mark.parametrize(
    "line, speaker",
    [
        ("Dr. Who: Run!", "Dr. Who"),
        ("O'Neil: Yes.", "O'Neil"),
        ("Guard-2 : Halt.", "Guard-2"),
        ("Old Man Jenkins: Hm.", "Old Man Jenkins"),
        ("Zoë: Salut.", "Zoë"),
        ("李雷: 你好", "李雷"),
        # The full-width colon, as Chinese and Japanese are written, with or without spaces.
        ("甲：你好", "甲"),
        ("甲 ： 你好", "甲"),
        ("\u3000主持人\u3000：\u3000大家好", "主持人"),
        ("小明﹕你好", "小明"),
        # Bracketed names.
        ("[Host]: Welcome.", "Host"),
        ("[Guest 2] : Thanks.", "Guest 2"),
        ("【主持人】：歡迎收聽。", "主持人"),
        ("【主持人】 ： 歡迎收聽。", "主持人"),
        # Emoji, RTL scripts, spaces.
        ("Bob 😀: Me too", "Bob 😀"),
        ("🤖: beep", "🤖"),
        ("👩\u200d💻 Ana: hi", "👩\u200d💻 Ana"),
        ("أحمد: مرحبا", "أحمد"),
        ("שרה: שלום", "שרה"),
        ("Mary Jane Watson: Hey.", "Mary Jane Watson"),
        ("김민수: 안녕하세요", "김민수"),
        ("さくら：こんにちは", "さくら"),
    ],
)
def test_speaker_names(line, speaker):
    if speaker is None:
        with pytest.raises(ScriptError):
            parse_script(line)
    else:
        assert parse_script(line)[0].speaker == speaker


@pytest.mark.parametrize(
    "continuation",
    ["and then he said: hello", "Meet me at 10:30 sharp.", "See https://example.com/x for more."],
)
def test_colons_inside_text_do_not_invent_speakers(continuation):
    turns = parse_script(f"Alice: Listen.\n{continuation}")
    assert len(turns) == 1
    assert turns[0].text == f"Listen. {continuation}"


def test_emoji_speaker_lines_are_turns_not_glued_to_the_previous_one():
    turns = parse_script("Alice: Pizza tonight?\nBob 😀: Me too\n🤖: beep")
    assert [(t.speaker, t.text) for t in turns] == [("Alice", "Pizza tonight?"), ("Bob 😀", "Me too"), ("🤖", "beep")]


def test_the_text_keeps_its_own_colons():
    assert parse_script("甲：時間：十點")[0].text == "時間：十點"
    assert parse_script("[Host]: Agenda: news")[0].text == "Agenda: news"


@pytest.mark.parametrize(
    "line, why",
    [
        ("and then he said: hello", "more than 3 words"),
        ("他說：「我們走吧」", "quotation"),
        ("Note, however: nothing", "“,”"),
        ("2nd guard: halt", "does not start with “2”"),
    ],
)
def test_a_line_that_looks_like_a_speaker_line_is_reported_next_to_it(line, why):
    script = read_script(f"Alice: Listen.\n\n{line}")
    assert [t.speaker for t in script.turns] == ["Alice"]
    assert script.turns[0].text == f"Listen. {line}"
    [note] = script.notes
    assert note.line == 3
    assert why in note.message and "Alice" in note.message
    assert str(note).startswith("Line 3: ")


def test_times_and_urls_are_not_reported():
    assert read_script("Alice: Listen.\nMeet me at 10:30.\nSee https://example.com/x").notes == []


def test_a_first_line_that_looks_like_a_speaker_line_says_why_it_is_not():
    with pytest.raises(ScriptError) as error:
        parse_script("and then he said: hello")
    assert error.value.line == 1 and "more than 3 words" in error.value.message


def test_text_before_any_speaker_is_an_error_naming_the_line():
    with pytest.raises(ScriptError) as error:
        parse_script("\n\nhello there\nAlice: Hi.")
    assert error.value.line == 3
    assert "Line 3" in str(error.value)


def test_too_long_a_name_is_not_a_speaker():
    name = "A" * 51
    with pytest.raises(ScriptError):
        parse_script(f"{name}: hi")


def test_empty_script_has_no_turns():
    assert parse_script("") == []
    assert parse_script("\n \n") == []


def test_a_speaker_with_nothing_to_say_is_kept_for_validation_to_judge():
    assert parse_script("Alice:\nBob: Hi.") == [Turn("Alice", "", 1), Turn("Bob", "Hi.", 2)]


def test_format_script_round_trips():
    text = "Alice: Hi Bob.\nBob: Hello: a colon.\nAlice: Bye.\n甲: 你好\nBob 😀: Me too"
    turns = [t.as_request(i) for i, t in enumerate(parse_script(text))]
    assert format_script(turns) == text


def test_format_script_brackets_a_name_that_would_not_read_back():
    # A name from the API may hold anything a script line cannot start with.
    turns = [{"speaker": "2nd guard, left", "text": "Halt.", "index": 0}]
    assert format_script(turns) == "[2nd guard, left]: Halt."
    assert parse_script(format_script(turns))[0].speaker == "2nd guard, left"
