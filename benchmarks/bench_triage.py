"""Triage core throughput on one core: rules, sentiment, urgency and spam checks per post.

Target (issue 7): at least 50,000 posts/s.   Run: python benchmarks/bench_triage.py
"""

from __future__ import annotations

from _common import corpus, rate, ratio

from social_itsm_app.triage import RuleSet, triage
from social_itsm_app.triage.decide import SpamGuard
from social_itsm_app.triage.rules import CONVERT, IGNORE, QUEUE, SPAM

TARGET = 50_000
RULES = RuleSet.from_records([
	{"rule_name": "outages", "priority": 1, "action": CONVERT, "keywords": "down\noutage\nnot working\ncan't log in\n503",
	 "exclude_words": "download"},
	{"rule_name": "vpn", "priority": 2, "action": QUEUE, "hashtags": "vpn"},
	{"rule_name": "german", "priority": 3, "action": QUEUE, "languages": "de"},
	{"rule_name": "noise", "priority": 0, "action": IGNORE, "keywords": "competitorcorp"},
	{"rule_name": "troll", "priority": 0, "action": SPAM, "authors_allow": "troll1\ntroll2"},
	{"rule_name": "billing", "priority": 4, "action": QUEUE, "regex": r"invoice|billing|refund"},
])


def main() -> None:
	posts = corpus(50_000)

	def run() -> None:
		guard = SpamGuard()
		for post in posts:
			triage(post, "Acme on Mastodon", RULES, guard)

	per_second = rate("triage (6 rules, scores, spam checks)", len(posts), run)
	ratio("triage posts/s vs 50,000", per_second, TARGET)


if __name__ == "__main__":
	main()
