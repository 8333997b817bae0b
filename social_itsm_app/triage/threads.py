"""Which ticket a new post belongs to, from what is already known about its thread (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

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


Ticket = tuple[str, str]


@dataclass
class ThreadIndex:
	"""What is known about the threads a batch touches: tickets by thread id and by post id, thread roots.

	Networks differ in what they say about a thread: Mastodon gives only the parent (``in_reply_to_id``),
	so a reply to a reply would start a "thread" of its own. A post whose parent is known takes the parent's
	root as its thread, so the whole conversation, however deep, shares one thread id.
	"""

	by_thread: dict[str, Ticket] = field(default_factory=dict)
	by_post: dict[str, Ticket] = field(default_factory=dict)
	roots: dict[str, str] = field(default_factory=dict)  # post external id -> its thread's root

	def add(self, external_id: str, thread_id: str | None, ticket: Ticket) -> None:
		"""A post (or a part of our reply) known to be on ``ticket``; without a thread id it is its own root."""
		root = thread_id or external_id
		self.by_thread.setdefault(root, ticket)
		self.roots[external_id] = root
		self.by_post[external_id] = ticket

	def ticket_for(self, post: SocialPost) -> Ticket | None:
		"""The post's ticket, if any; a post answering a known post inherits that post's thread root."""
		root = self.roots.get(post.in_reply_to_id or "")
		if root and root != post.external_id:
			post.thread_id = root
		return ticket_for(post, self.by_thread, self.by_post)
