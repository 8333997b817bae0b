"""Which ticket a new post belongs to, from what is already known about its thread (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from social_itsm_app.connectors.base import SocialPost


def lookup_keys(posts: Iterable[SocialPost]) -> tuple[set[str], set[str]]:
	"""Thread ids and replied-to post ids of a batch: what one query must look up for the whole batch."""
	threads, parents = set(), set()
	for post in posts:
		if post.thread_id:
			threads.add(post.thread_id)
		if post.in_reply_to_id:
			parents.add(post.in_reply_to_id)
	return threads, parents


def ticket_for(
	post: SocialPost,
	ticket_by_thread: Mapping[str, tuple[str, str]],
	ticket_by_post: Mapping[str, tuple[str, str]],
) -> tuple[str, str] | None:
	"""(ticket doctype, ticket name) when the post answers a post with a ticket or sits in such a thread.

	The direct parent wins over the thread: in a long thread with two tickets, a reply joins its parent's.
	A post is never its own thread owner (the first post of a thread carries its own id as thread id).
	"""
	if post.in_reply_to_id and post.in_reply_to_id in ticket_by_post:
		return ticket_by_post[post.in_reply_to_id]
	if post.thread_id and post.thread_id != post.external_id and post.thread_id in ticket_by_thread:
		return ticket_by_thread[post.thread_id]
	if post.thread_id and post.thread_id in ticket_by_post and post.thread_id != post.external_id:
		return ticket_by_post[post.thread_id]
	return None
