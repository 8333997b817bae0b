from datetime import datetime, timedelta, timezone

from social_itsm_app.triage.backlog import is_backlog

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


def test_posts_written_before_the_channel_listened_are_backlog():
	since = NOW - timedelta(minutes=5)
	assert is_backlog(since - timedelta(seconds=1), since, NOW)
	assert not is_backlog(since + timedelta(seconds=1), since, NOW)


def test_posts_older_than_the_max_age_are_backlog_after_a_long_pause():
	long_ago = NOW - timedelta(days=30)
	assert is_backlog(NOW - timedelta(hours=2), long_ago, NOW, timedelta(hours=1))
	assert not is_backlog(NOW - timedelta(minutes=59), long_ago, NOW, timedelta(hours=1))


def test_no_max_age_means_only_the_listening_start_counts():
	assert not is_backlog(NOW - timedelta(days=3), None, NOW, None)
	assert not is_backlog(NOW - timedelta(days=3), None, NOW, timedelta(0))
