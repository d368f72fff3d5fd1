"""The filter language's parser and formatter (pure: no database)."""

from __future__ import annotations

from contextlib import nullcontext

import pytest

from mdmtui import filterlang
from mdmtui.filterlang import FilterError, Term


def test_words_fields_quotes_and_negation():
    assert filterlang.parse('os:iOS carrier:docomo stale:>30d security:Jailbroken linkage:"Intune 本社" 高橋') == (
        Term("iOS", "os"), Term("docomo", "carrier"), Term("30d", "stale", ">"), Term("jailbroken", "security"),
        Term("Intune 本社", "linkage"), Term("高橋"))
    assert filterlang.parse("!os:IS !iphone osver:<=16.4 seen:<12H missing:Y") == (
        Term("IS", "os", negated=True), Term("iphone", negated=True), Term("16.4", "osver", "<="),
        Term("12h", "seen", "<"), Term("yes", "missing"))


def test_aliases_os_classes_and_defaults():
    assert filterlang.parse("os_version:17 sec:any department:営業 app:Slack os:si stale:30d") == (
        Term("17", "osver"), Term("any", "security"), Term("営業", "dept"), Term("Slack", "software"),
        Term("Si", "os"), Term("30d", "stale", ">"))


def test_quotes_make_colons_bangs_and_comparisons_plain():
    assert filterlang.parse('"a:b" "!x" model:"<1" user:"say \\"hi\\""') == (
        Term("a:b"), Term("!x"), Term("<1", "model"), Term('say "hi"', "user"))
    assert filterlang.parse('  ""  "!" 12:30 http//x ') == (Term("!"), Term("12:30"), Term("http//x"))
    assert filterlang.parse(None) == () == filterlang.parse("   ")


@pytest.mark.parametrize("text, message", [
    ('linkage:"Intune 本社', "unclosed quote at column 9"),
    ("colour:red", "unknown field 'colour' (quote the word to search for it): use os, osver,"),
    ("osver:<abc", "osver: 'abc' is not a version number"),
    ("osver:1.2.3.4.5", "not a version number"), ("osver:<1234567890", "not a version number"),
    ("id:1234567890123456789", "not a device id"), ("id:１２", "not a device id"),
    ("stale:<3d", "stale: takes >Nd"),
    ("seen:=3d", "not an age"), ("seen:3y", "not an age"),
    ("missing:maybe", "missing: 'maybe' is not yes or no"),
    ("security:bad", "unknown problem 'bad': use any, unmanaged"),
    ("user:", "user: needs a value"), ('user:""', "user: needs a value"),
    ("model:<x", "'<' compares only osver"), ("id:x", "not a device id"),
    ("name\x1b[31m", "control character"), ("a ! b", "! at column 3 negates the word right after it"),
])
def test_malformed_input_gives_one_line(text, message):
    with pytest.raises(FilterError) as caught:
        filterlang.parse(text)
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("text", [
    'os:iOS carrier:docomo stale:>30d security:jailbroken linkage:"Intune 本社"',
    '!os:IS 高橋 !iphone "a:b" "!x" model:"<1" user:"say \\"hi\\"" linkage:=MI osver:>=17.4 seen:<7d pending:no',
])
def test_format_is_the_inverse_of_parse(text):
    terms = filterlang.parse(text)
    assert filterlang.format(terms) == text
    assert filterlang.parse(filterlang.format(terms)) == terms


@pytest.mark.parametrize("term", [
    Term("a b"), Term("x:y"), Term("!z"), Term('q"uote'), Term("back\\slash", "user"), Term("<5", "carrier"),
    Term("Intune 本社", "linkage", "="), Term("30d", "stale", ">"), Term("17", "osver", "<", negated=True),
])
def test_structured_terms_round_trip(term):
    assert filterlang.parse(filterlang.format([term])) == (term,)


def test_clean_drops_control_characters():
    assert filterlang.clean("os:iOS\x1b[2J\x00\n 営業") == "os:iOS[2J 営業"


@pytest.mark.parametrize("text, terms, hint", [
    ("os:iOS dept:", (Term("iOS", "os"),), "dept: part of the department"),
    ("os:iOS !osver:<", (Term("iOS", "os"),), "osver: OS version"),
    ("高橋 !", (Term("高橋"),), "! negates"),
    ('os:iOS dept:""', None, "dept: needs a value"),  # typed quotes: a value was meant, and it is empty
    ("colour: os:iOS", None, "unknown field"), ("dept: os:iOS", None, "dept: needs a value"),
    ("os:iOS", (Term("iOS", "os"),), None), ("colour:", None, "unknown field"),
])
def test_while_typing_a_last_word_waiting_for_its_value_is_left_out(text, terms, hint):
    if terms is None:
        with pytest.raises(FilterError, match=hint.split(":")[0]):
            filterlang.parse_typing(text)
        return
    got, got_hint = filterlang.parse_typing(text)
    assert got == terms and (got_hint or "").startswith(hint or "")
    assert (hint is None) == (got_hint is None)
    with pytest.raises(FilterError) if hint else nullcontext():
        filterlang.parse(text)  # enter still refuses it
