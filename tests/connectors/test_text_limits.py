"""Cleaning text is bounded on hostile markup, and no tag or lone surrogate ever survives it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from social_itsm_app.connectors import text
from social_itsm_app.connectors.text import clean_text, html_to_text, strip_leftover_markup
from tests.connectors.test_text_and_split import _html_in

FIXTURES = Path(__file__).parent.parent / "fixtures"
# Shapes on which html.parser rescans to the end of the input for every "<" (9.5 s for the first before).
PATHOLOGICAL = {
	"unterminated tags": "<a " * 5000,
	"unterminated names": "<a" * 20000,
	"bare brackets": "<" * 50000,
	"nested bold": "<b>" * 20000,
	"unterminated attributes": "<a href='" * 5000,
	"nested links": "<a>" * 10000,
	"unclosed comments": "<!--" * 10000,
	"quoted '>' then a long tail": "<a b='>'" * 450 + "b " * 20000,
}


def _timed(convert, markup: str) -> tuple[str, float]:
	start = time.perf_counter()
	result = convert(markup)
	return result, time.perf_counter() - start


@pytest.mark.parametrize("markup", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_hostile_markup_is_cleaned_fast_and_leaves_no_tag(markup):
	for convert in (html_to_text, clean_text):
		result, seconds = _timed(convert, markup)
		assert seconds < 2, f"{convert.__name__} took {seconds:.1f} s"  # a guard against 10 s, not a benchmark
		assert not text._TAG.search(result), result[:80]


@pytest.mark.parametrize("markup", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_the_full_parser_never_sees_hostile_markup(markup, monkeypatch):
	def refuse(markup: str, _depth: int = 0) -> str:
		raise AssertionError(f"parsed {len(markup)} chars of hostile markup")

	monkeypatch.setattr(text, "_soup_html_to_text", refuse)
	html_to_text(markup)


def test_tame_markup_that_is_not_simple_still_goes_to_the_parser(monkeypatch):
	seen: list[str] = []
	parse = text._soup_html_to_text
	monkeypatch.setattr(
		text, "_soup_html_to_text", lambda markup, _depth=0: seen.append(markup) or parse(markup, _depth)
	)
	assert html_to_text("<p>a > b</p><!-- note --><p>It's <a href='https://x.example/'>here</a></p>") == (
		"a > b\n\nIt's here (https://x.example/)"
	)
	assert seen


@pytest.mark.filterwarnings("ignore::bs4.XMLParsedAsHTMLWarning")
def test_the_forgiving_walk_gives_the_parsers_text_on_every_recorded_payload():
	samples: list[str] = []
	for path in FIXTURES.glob("*/*.json"):
		_html_in(json.loads(path.read_text()), samples)
	samples += [path.read_text() for path in FIXTURES.glob("feed/*")]
	assert samples
	for markup in samples:
		assert text._walk_html(markup, lenient=True) == text._soup_html_to_text(markup), markup[:200]


@pytest.mark.parametrize(
	("hostile", "expected"),
	[
		("<\x00script>alert(1)", "alert(1)"),  # the control character goes, joining "<" and "script"
		("&lt;\x00b&gt;bold", "bold"),
		("a < b and c > d", "a < b and c > d"),
	],
)
def test_no_tag_survives_tidying(hostile, expected):
	assert clean_text(hostile) == expected


@pytest.mark.parametrize("leftover", ["<<a>b", "</<a", "<<</a>x", "<a <b <c", "<!<!x", "x<\n<a>"])
def test_strip_leftover_markup_leaves_no_tag(leftover):
	assert not text._TAG.search(strip_leftover_markup(leftover))
	assert strip_leftover_markup("plain < text") == "plain < text"


def test_lone_surrogates_are_scrubbed():
	escaped = json.loads('"broken \\ud83d emoji \\ude00 and a whole one \\ud83d\\ude00"')
	assert clean_text(escaped) == "broken emoji and a whole one 😀"
	assert html_to_text(f"<p>{escaped}</p>") == "broken emoji and a whole one 😀"
	clean_text(escaped).encode("utf-8")  # what MariaDB's utf8mb4 needs
