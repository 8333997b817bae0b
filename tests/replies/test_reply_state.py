"""The reply state machine: sent replies are never sent again, doubtful ones only where it is safe."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from social_itsm_app.content import (
	delivery_html,
	post_html,
	render_template,
	reply_text_from_html,
	ticket_subject,
)
from social_itsm_app.replies.state import (
	FAILED,
	IN_DOUBT,
	MAX_ATTEMPTS,
	QUEUED,
	SEND,
	SENDING,
	SENT,
	SKIP,
	next_attempt,
	start,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


def test_start_decisions():
	assert start(QUEUED, 0, False) == SEND
	assert start(SENT, 1, True) == SKIP
	assert start(FAILED, 2, False) == SEND
	assert start(FAILED, MAX_ATTEMPTS, False) == SKIP
	assert start(SENDING, 1, False) == IN_DOUBT  # a worker died mid-send: ask a person
	assert start(SENDING, 1, True) == SEND  # the network drops a duplicate by idempotency key


def test_retries_back_off_and_respect_rate_limits():
	assert next_attempt(NOW, 1) == NOW + timedelta(minutes=1)
	assert next_attempt(NOW, 2) == NOW + timedelta(minutes=5)
	assert next_attempt(NOW, 4) == NOW + timedelta(hours=1)
	assert next_attempt(NOW, MAX_ATTEMPTS) is None
	assert next_attempt(NOW, 1, reset_at=NOW + timedelta(minutes=15)) == NOW + timedelta(minutes=15)


def test_subject_description_and_templates():
	assert ticket_subject("Checkout fails with 503. Since 9am. Please help", "sam", "X") == "Checkout fails with 503."
	assert ticket_subject("", "sam", "Mastodon") == "Post by sam on Mastodon"
	assert len(ticket_subject("word " * 100, "sam", "X")) <= 140
	html = post_html({"text": "a <b>\n\nb", "author_name": "Sam", "author_handle": "sam", "network": "X",
		"url": "javascript:alert(1)"})
	assert "&lt;b&gt;" in html and "javascript" not in html and "Sam (@sam) on X" in html
	assert render_template("Thanks {author_name}, ticket #{ticket} {unknown} {0.__class__}",
		{"author_name": "Sam", "ticket": "42"}) == "Thanks Sam, ticket #42 {unknown} {0.__class__}"


def test_agent_html_becomes_plain_text_without_history_or_signature():
	html = ('<p>Hi Sam,</p><p>we restarted the <b>VPN</b> gateway.</p><p class="signature">--<br>Ana, IT</p>'
		'<p class="reply-to-content"></p><blockquote>earlier message</blockquote>')
	assert reply_text_from_html(html) == "Hi Sam,\n\nwe restarted the VPN gateway."


def test_the_delivery_note_says_where_the_answer_went_with_readable_links():
	one = delivery_html("Mastodon", False, ["https://m.example/@desk/1"])
	assert one.startswith("Sent on Mastodon as a public reply")
	assert '>view on Mastodon</a>' in one and ">1<" not in one
	chain = delivery_html("X", True, ["https://x.com/1", "https://x.com/2", "javascript:alert(1)"])
	assert "a private message" in chain and ">part 1</a>" in chain and ">part 2</a>" in chain
	assert "javascript" not in chain
	assert delivery_html("Telegram", True, []) == "Sent on Telegram as a private message"


def test_a_reply_that_may_be_on_the_network_is_resent_only_while_the_network_drops_duplicates():
	from social_itsm_app.replies.state import after_failure, safe_until

	first = datetime(2026, 12, 3, 12, 0)
	window = safe_until(first, True, timedelta(minutes=55))
	assert window == first + timedelta(minutes=55)
	assert safe_until(first, False, timedelta(minutes=55)) is None  # no idempotency: never safe
	assert safe_until(first, True, None) == datetime.max  # idempotent without a known limit
	# A timeout (in doubt) and a 429 for two hours: the retry would come after Mastodon forgot the key.
	assert after_failure(first, 1, first + timedelta(hours=2), True, window) is None
	assert after_failure(first, 1, None, True, window) == first + timedelta(minutes=1)  # within the window
	assert after_failure(first, 1, first + timedelta(hours=2), False, window) == first + timedelta(hours=2)
	assert after_failure(first, 1, None, True, None) is None  # in doubt on a network without idempotency
	# A failed reply in doubt is resent only when safe; one that never reached the network always is.
	assert start(FAILED, 2, False, in_doubt=True) == IN_DOUBT
	assert start(FAILED, 2, True, in_doubt=True) == SEND
	assert start(FAILED, 2, False, in_doubt=False) == SEND
