"""An administrator's regular expression cannot freeze a worker: time limit, text cap, validation."""

from __future__ import annotations

import time

import pytest

from social_itsm_app.triage import RuleSet, triage
from social_itsm_app.triage.rules import CONVERT, QUEUE, REGEX_TEXT_LIMIT, validate_regex
from tests.triage.test_triage import post


def _rules(regex: str) -> RuleSet:
	return RuleSet.from_records(
		[
			{"rule_name": "admin regex", "priority": 1, "action": CONVERT, "regex": regex},
			{"rule_name": "the rest", "priority": 2, "action": QUEUE, "keywords": "aaaa"},
		]
	)


def _timed_triage(rules: RuleSet, text: str):
	start = time.perf_counter()
	verdict = triage(post(text), "c", rules)
	return verdict, time.perf_counter() - start


def test_nested_quantifier_answers_quickly_and_does_not_match():
	rules = _rules(r"(a+)+$")
	verdict, seconds = _timed_triage(rules, "a" * 27 + "b")  # 11 s with the standard library's re
	assert seconds < 1
	assert verdict.rule is None


def test_a_regex_out_of_time_does_not_match_and_is_reported():
	rules = _rules(r"(a|a)*$")
	assert rules.timeouts == {}
	verdict, seconds = _timed_triage(rules, "aaaa " + "a" * 22 + "b")
	assert seconds < 1
	assert (verdict.action, verdict.rule) == (QUEUE, "the rest")  # falls through; never auto-converts
	assert rules.timeouts == {"admin regex": 1}
	triage(post("aaaa " + "a" * 22 + "c", external_id="2"), "c", rules)
	assert rules.timeouts == {"admin regex": 2}


def test_normal_regexes_still_match_ignoring_case():
	rules = _rules(r"invoice|billing|refund")
	assert triage(post("Where is my INVOICE?"), "c", rules).rule == "admin regex"
	assert triage(post("Où est ma facture?"), "c", rules).rule is None
	assert rules.timeouts == {}


def test_the_regex_sees_only_the_start_of_a_long_post():
	rules = _rules(r"needle")
	assert triage(post("x " * 100 + "needle"), "c", rules).rule == "admin regex"
	assert triage(post("x" * REGEX_TEXT_LIMIT + " needle"), "c", rules).rule is None


@pytest.mark.parametrize(
	("pattern", "reason"),
	[
		("(", "invalid regular expression"),
		("[a-", "invalid regular expression"),
		(r"(a+)+$", "repeats a repetition"),
		(r"(\w+\s?)+$", "repeats a repetition"),
		(r"(?:x*)*y", "repeats a repetition"),
		(r"(a|a)*$", "takes longer than 50 ms"),
		(r"(k|k)*$", "takes longer than 50 ms"),  # probed with the pattern's own letters too
	],
)
def test_validate_regex_rejects_invalid_and_catastrophic_patterns(pattern, reason):
	start = time.perf_counter()
	with pytest.raises(ValueError, match=reason):
		validate_regex(pattern)
	assert time.perf_counter() - start < 2


@pytest.mark.parametrize(
	"pattern", [r"invoice|billing|refund", r"order\s+#?\d{5}", r"(\w+\.)+example\.com", r"(ab+)+c"]
)
def test_validate_regex_accepts_ordinary_patterns(pattern):
	assert validate_regex(pattern).search("Order #12345 for ABBBC at shop.example.com: a billing question")


def test_a_rule_with_an_invalid_regex_says_which_rule():
	with pytest.raises(ValueError, match="rule 'admin regex': invalid regular expression"):
		_rules("(")
