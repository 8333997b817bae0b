"""Triage on real-world-shaped posts: outage reports, praise, spam, sarcasm, other languages."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from social_itsm_app.connectors import SocialPost
from social_itsm_app.scheduling import next_fetch_at
from social_itsm_app.triage import Rule, RuleSet, sentiment, triage, urgency
from social_itsm_app.triage.decide import SpamGuard
from social_itsm_app.triage.rules import CONVERT, IGNORE, QUEUE, SPAM
from social_itsm_app.triage.threads import lookup_keys, ticket_for

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)


def post(text: str, author: str = "alice", language: str | None = "en", external_id: str = "1", **kw) -> SocialPost:
	return SocialPost(
		network="mastodon", external_id=external_id, text=text, author_id=f"id-{author}", author_handle=author,
		author_name=author.title(), created_at=T0, url="", kind=kw.pop("kind", "mention"), language=language, **kw,
	)


RULES = RuleSet.from_records(
	[
		{"rule_name": "Outages become tickets", "priority": 1, "action": CONVERT, "match_type": "Any",
		 "keywords": "down\noutage\nnot working\ncan't log in", "exclude_words": "download\nthumbs down",
		 "ticket_priority": "Urgent"},
		{"rule_name": "VPN hashtag", "priority": 5, "action": QUEUE, "hashtags": "#vpn"},
		{"rule_name": "German posts", "priority": 6, "action": QUEUE, "languages": "de"},
		{"rule_name": "Competitor noise", "priority": 0, "action": IGNORE, "keywords": "competitorcorp"},
		{"rule_name": "Known troll", "priority": 0, "action": SPAM, "authors_allow": "@trollface"},
		{"rule_name": "Disabled", "priority": 0, "action": IGNORE, "keywords": "down", "enabled": 0},
	]
)


@pytest.mark.parametrize(
	("text", "author", "language", "action", "rule"),
	[
		("@acme your site is DOWN again, can't log in!!! 😡", "bob", "en", CONVERT, "Outages become tickets"),
		("Is the VPN not working for anyone else? #vpn", "carol", "en", CONVERT, "Outages become tickets"),
		("Anyone else on #VPN today? Slow but ok", "dave", "en", QUEUE, "VPN hashtag"),
		("Download page looks great, thumbs down to nobody", "erin", "en", QUEUE, None),
		("Der Login geht seit heute morgen nicht", "fritz", "de", QUEUE, "German posts"),
		("CompetitorCorp is down too lol", "gina", "en", IGNORE, "Competitor noise"),
		("Your service is down", "TrollFace", "en", SPAM, "Known troll"),
		("Thanks for the quick fix yesterday, you folks rock", "hank", "en", QUEUE, None),
		("Crypto signals! DM me for free followers https://spam.example", "spammer", "en", SPAM, None),
	],
)
def test_rules_decide(text, author, language, action, rule):
	verdict = triage(post(text, author, language), "Mastodon support", RULES)
	assert (verdict.action, verdict.rule) == (action, rule)


def test_converting_rule_carries_ticket_fields_and_status():
	verdict = triage(post("Outage in EU region"), "c", RULES)
	assert verdict.ticket_fields == {"ticket_priority": "Urgent"}
	assert verdict.status == "New"
	assert triage(post("CompetitorCorp news"), "c", RULES).status == "Ignored"


def test_match_all_needs_every_term_and_accents_and_case_are_ignored():
	rules = RuleSet([Rule(name="both", match_all=True, keywords=("vpn", "cafe"), action=CONVERT)])
	assert triage(post("The VPN at the Café is broken"), "c", rules).rule == "both"
	assert triage(post("The VPN is broken"), "c", rules).rule is None


def test_channel_restriction_regex_and_author_block():
	rules = RuleSet.from_records([
		{"rule_name": "only X", "channels": [{"channel": "X support"}], "keywords": "refund", "action": CONVERT,
		 "regex": r"order\s+#?\d{5}", "authors_block": "mallory"},
	])
	assert triage(post("refund for order #12345 please"), "X support", rules).rule == "only X"
	assert triage(post("refund for order #12345 please"), "Reddit", rules).rule is None
	assert triage(post("refund please"), "X support", rules).rule is None
	assert triage(post("refund for order 12345", author="Mallory"), "X support", rules).rule is None


def test_spam_floods_links_and_hashtags():
	guard = SpamGuard(window=100)
	copies = [triage(post("Win a brand new laptop, reply now to claim it", author=f"bot{i}"), "c", RuleSet([]), guard)
		for i in range(3)]
	assert [v.action for v in copies] == [QUEUE, QUEUE, SPAM]
	assert copies[-1].spam_reason == "repeated text"
	links = "see https://a.example https://b.example https://c.example"
	assert triage(post(links), "c", RuleSet([])).spam_reason == "link farm"
	tags = " ".join(f"#tag{i}" for i in range(9))
	assert triage(post(tags), "c", RuleSet([])).spam_reason == "hashtag stuffing"


def test_spam_memory_survives_between_fetch_jobs():
	flood = "Win a brand new laptop, reply now to claim it"
	first_job = SpamGuard(window=100)
	assert triage(post(flood, author="bot1"), "c", RuleSet([]), first_job).action == QUEUE
	second_job = SpamGuard.load(first_job.dump(), window=100)
	assert triage(post(flood, author="bot2"), "c", RuleSet([]), second_job).action == QUEUE
	third_job = SpamGuard.load(second_job.dump(), window=100)
	assert triage(post(flood, author="bot3"), "c", RuleSet([]), third_job).spam_reason == "repeated text"


def test_spam_memory_is_bounded_and_forgiving():
	guard = SpamGuard(window=3)
	for text in ("one", "two", "three", "four"):
		guard.seen_often(text)
	assert len(guard.dump()) == 3 * SpamGuard.DIGEST_SIZE  # "one" has dropped out of the window
	smaller = SpamGuard.load(guard.dump(), window=2)
	assert len(smaller.dump()) == 2 * SpamGuard.DIGEST_SIZE  # the newest are kept
	for junk in (None, b"", b"abc", "not bytes"):
		assert SpamGuard.load(junk).dump() == b""


def test_spam_heuristics_cannot_trigger_auto_convert():
	verdict = triage(post("Outage!! giveaway https://x.example https://y.example https://z.example"), "c", RULES)
	assert verdict.action == SPAM


@pytest.mark.parametrize(
	("text", "language", "sign"),
	[
		("Love the new dashboard, great work team :)", "en", 1),
		("Thanks, that fixed it!", "en", 1),
		("@acme your site is down AGAIN, can't log in!!! 😡", "en", -1),
		("This is unusable. Third outage this week.", "en", -1),
		("Not happy with support at all", "en", -1),
		("Die Seite ist nicht erreichbar", "de", 0),
	],
)
def test_sentiment_sign(text, language, sign):
	score = sentiment(text, language)
	assert -1 <= score <= 1
	assert (score > 0.05) - (score < -0.05) == sign


def test_urgency_orders_real_posts():
	outage = urgency("Checkout is DOWN, 503 for all users!!! Customers cannot pay")
	plain = urgency("How do I change my avatar?")
	negated = urgency("No outage here, not down at all, works for me")
	sarcasm = urgency("Oh great, another outage. Just what I needed.")
	assert outage > 0.8 and plain < 0.1
	assert negated < 0.3 < sarcasm
	assert urgency("The printer on floor 3 is on fire") > 0.5 > urgency("Fire up the new dashboard, it rocks")


def test_thread_resolution():
	known_threads = {"thread-1": ("HD Ticket", "42")}
	known_posts = {"p-9": ("HD Ticket", "43"), "thread-2": ("Issue", "ISS-1")}
	reply = post("still broken", external_id="p-10", thread_id="thread-1", in_reply_to_id="p-9")
	assert ticket_for(reply, known_threads, known_posts) == ("HD Ticket", "43")
	in_thread = post("me too", external_id="p-11", thread_id="thread-1")
	assert ticket_for(in_thread, known_threads, known_posts) == ("HD Ticket", "42")
	root_reply = post("+1", external_id="p-12", thread_id="thread-2")
	assert ticket_for(root_reply, {}, known_posts) == ("Issue", "ISS-1")
	thread_root = post("first", external_id="thread-1", thread_id="thread-1")
	assert ticket_for(thread_root, known_threads, {}) is None
	assert lookup_keys([reply, in_thread]) == ({"thread-1"}, {"p-9"})


def test_next_fetch_backs_off_and_respects_pauses():
	assert next_fetch_at(T0, 5) == T0 + timedelta(minutes=5)
	assert next_fetch_at(T0, 5, has_more=True) == T0
	assert next_fetch_at(T0, 5, consecutive_failures=2) == T0 + timedelta(minutes=20)
	assert next_fetch_at(T0, 5, consecutive_failures=50) == T0 + timedelta(minutes=5 * 64)
	assert next_fetch_at(T0, 10, consecutive_failures=50) == T0 + timedelta(hours=6)
	assert next_fetch_at(T0, 5, paused_until=T0 + timedelta(hours=1)) == T0 + timedelta(hours=1)
	assert next_fetch_at(T0, 0) == T0 + timedelta(minutes=1)


def test_a_reply_to_our_reply_joins_the_ticket_and_the_thread_root():
	"""Mastodon gives only the parent: the customer's answer to our reply r-1 (thread "r-1" as Mastodon
	reports it) joins the ticket of the post we answered and takes that post's thread root."""
	from social_itsm_app.triage.threads import ThreadIndex

	index = ThreadIndex()
	index.add("r-1", "root-1", ("HD Ticket", "7"))  # a part of our reply, answering a post of thread root-1
	answer = post("still down for me", external_id="c-1", thread_id="r-1", in_reply_to_id="r-1")
	assert index.ticket_for(answer) == ("HD Ticket", "7")
	assert answer.thread_id == "root-1"
	index.add(answer.external_id, answer.thread_id, ("HD Ticket", "7"))
	deeper = post("and now?", external_id="c-2", thread_id="c-1", in_reply_to_id="c-1")
	assert index.ticket_for(deeper) == ("HD Ticket", "7")
	assert deeper.thread_id == "root-1"
	stranger = post("unrelated", external_id="s-1", thread_id="s-1")
	assert index.ticket_for(stranger) is None
	assert stranger.thread_id == "s-1"


def test_the_same_short_complaint_from_many_people_is_an_outage_not_a_flood():
	guard = SpamGuard(window=100)
	said = [triage(post("Is Outlook down for anyone else?", author=f"user{i}"), "c", RuleSet([]), guard) for i in range(6)]
	assert {v.action for v in said} == {QUEUE}
	# the same complaint with a link, or a copied promotion, is still a flood from its third copy
	linked = [triage(post("Outlook is down!!! fix it at https://spam.example/fix", author=f"bot{i}"), "c", RuleSet([]), guard)
		for i in range(3)]
	assert [v.action for v in linked] == [QUEUE, QUEUE, SPAM]
	# a negated "down" is no outage report: repeated, it is a flood again
	calm = [triage(post("Outlook is not down, restart your laptop please", author=f"calm{i}"), "c", RuleSet([]), guard)
		for i in range(3)]
	assert calm[-1].spam_reason == "repeated text"
