"""Parsing "Speaker: text" scripts into turns (no database)."""

import pytest

from synthesis.script import ScriptError, Turn, format_script, parse_script, speakers_of


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
        ("小明：你好", None),  # a full-width colon is not a separator
        ("李雷: 你好", "李雷"),
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
    text = "Alice: Hi Bob.\nBob: Hello: a colon.\nAlice: Bye."
    turns = [t.as_request(i) for i, t in enumerate(parse_script(text))]
    assert format_script(turns) == text
