"""Hostile text becomes safe plain text; long replies split within each network's way of counting."""

from __future__ import annotations

import pytest

from social_itsm_app.connectors.split import (
	MEASURES,
	graphemes,
	graphemes_url23,
	split_reply,
	utf16_units,
	x_weighted,
)
from social_itsm_app.connectors.text import clean_text, first_line, html_to_text


def test_html_to_text_keeps_paragraphs_and_readable_links():
	html = (
		'<p>Hi <span class="h-card"><a href="https://m.example/@acme" class="u-url mention">@<span>acme</span></a></span>'
		" our VPN is down!</p><p>See <a href=\"https://status.example.com/incidents/42\">the status page</a> "
		'and <a href="https://status.example.com/x"><span class="invisible">https://</span>status.example.com/x</a></p>'
	)
	assert html_to_text(html) == (
		"Hi @acme our VPN is down!\n\nSee the status page (https://status.example.com/incidents/42) "
		"and https://status.example.com/x"
	)


@pytest.mark.parametrize(
	"hostile",
	[
		"<script>alert(1)</script>Hello",
		"&lt;script&gt;alert(1)&lt;/script&gt;Hello",
		"<img src=x onerror=alert(1)>Hello",
		'<a href="javascript:alert(1)">Hello</a>',
		"<style>body{display:none}</style>Hello",
		"<iframe src=https://evil.example></iframe>Hello",
	],
)
def test_markup_never_survives(hostile):
	for convert in (html_to_text, clean_text):
		text = convert(hostile)
		assert "<" not in text and "javascript:" not in text
		assert text.endswith("Hello")


def test_clean_text_decodes_entities_and_drops_control_characters():
	assert clean_text("Fish &amp; chips &gt; salad \u202eevil\u0000 ") == "Fish & chips > salad evil"
	assert clean_text("a < b and c > d") == "a < b and c > d"
	assert clean_text("line one\r\n\r\n\r\n\r\nline two") == "line one\n\nline two"


def test_first_line_makes_a_short_title():
	assert first_line("Login is broken since this morning. Tried twice. Please help!") == "Login is broken since this morning."
	long = "word " * 60
	title = first_line(long, 50)
	assert len(title) <= 50 and title.endswith("…")


def test_measures_follow_each_network():
	family = "👨‍👩‍👧‍👦"  # one grapheme of 7 code points and 11 UTF-16 units
	assert graphemes(family) == 1
	assert utf16_units(family) == 11
	assert x_weighted(family) == 2
	assert x_weighted("日本語") == 6
	assert x_weighted("see https://example.com/" + "a" * 100) == 4 + 23
	assert graphemes_url23("see https://example.com/" + "a" * 100) == 4 + 23


@pytest.mark.parametrize(
	("measure", "limit", "unit"),
	[("x", 280, "Service is back 🎉 サービス復旧 "), ("graphemes", 300, "👍🏽 all good now. "), ("utf16", 4096, "😀 ok. ")],
)
def test_split_parts_fit_and_are_numbered(measure, limit, unit):
	text = unit * 600
	parts = split_reply(text, limit, measure)
	count = MEASURES[measure]
	assert len(parts) > 1
	assert all(count(part) <= limit for part in parts)
	assert [p.rsplit(" ", 1)[1] for p in parts] == [f"({i}/{len(parts)})" for i in range(1, len(parts) + 1)]
	# Nothing is lost: the parts without their numbers give back the words in order.
	rejoined = " ".join(p.rsplit(" ", 1)[0] for p in parts)
	assert rejoined.split() == text.split()


def test_split_prefers_sentence_ends_and_short_text_is_untouched():
	assert split_reply("Short answer.", 280, "x") == ["Short answer."]
	text = ("We are on it. " * 10) + "x" * 150
	parts = split_reply(text, 280, "x")
	assert parts[0].endswith("We are on it. (1/2)") or parts[0].rsplit(" (", 1)[0].endswith(".")


def test_split_cuts_a_word_longer_than_the_limit():
	parts = split_reply("a" * 700, 300, "graphemes")
	assert all(graphemes(p) <= 300 for p in parts)
	assert "".join(p.rsplit(" ", 1)[0] for p in parts) == "a" * 700


def _html_in(value, found: list[str]) -> list[str]:
	if isinstance(value, dict):
		for item in value.values():
			_html_in(item, found)
	elif isinstance(value, list):
		for item in value:
			_html_in(item, found)
	elif isinstance(value, str) and "<" in value and ">" in value:
		found.append(value)
	return found


def test_fast_html_path_gives_the_full_parsers_text_on_every_recorded_payload():
	import json
	from pathlib import Path

	from social_itsm_app.connectors import text

	fixtures = Path(__file__).parent.parent / "fixtures"
	samples: list[str] = []
	for path in fixtures.glob("*/*.json"):
		_html_in(json.loads(path.read_text()), samples)
	samples += [path.read_text() for path in fixtures.glob("feed/*")]
	samples += ["<p>hi<script>alert(1)</script></p>", "&lt;script&gt;alert(1)&lt;/script&gt;Hello",
		"<div><b>x</b> <i>y</i><ul><li>a</li><li>b</li></ul></div>", "<p>unclosed <script>x"]
	taken = 0
	for markup in samples:
		fast = text._simple_html_to_text(markup)
		if fast is not None:
			taken += 1
			assert fast == text._soup_html_to_text(markup), markup[:200]
	assert taken >= len(samples) * 0.7  # most real markup takes the fast path
	assert text._simple_html_to_text("<p>unclosed <script>x") is None  # surprises go to the full parser
