"""Shared helpers for the benchmark scripts: timing, a corpus of realistic posts, ratio printing."""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from social_itsm_app.connectors import SocialPost  # noqa: E402

TEMPLATES = [
	"@acme your {svc} is down AGAIN, can't log in!!! 😡",
	"Is the {svc} not working for anyone else this morning? #{tag}",
	"Love the new {svc}, great work team :)",
	"{svc} returns 503 for all users, customers cannot pay",
	"How do I export my invoices from {svc} as CSV?",
	"Thanks @acme, that fixed the {svc} issue!",
	"Der {svc} funktioniert seit gestern nicht mehr",
	"Oh great, another {svc} outage. Just what I needed.",
	"Huge GIVEAWAY! airdrop for the first 100 followers https://spam.example/{n}",
	"Anyone else seeing slow {svc} today? Pages take 30s to load #{tag}",
]
SERVICES = ["VPN", "login page", "checkout", "email", "dashboard", "printer", "wifi", "SSO", "API", "billing portal"]
TAGS = ["vpn", "outage", "help", "acme", "status"]


def corpus(size: int, seed: int = 7) -> list[SocialPost]:
	rng = random.Random(seed)
	now = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
	posts = []
	for i in range(size):
		text = rng.choice(TEMPLATES).format(svc=rng.choice(SERVICES), tag=rng.choice(TAGS), n=i)
		author = f"user{rng.randrange(size // 3 + 1)}"
		posts.append(SocialPost(
			network="mastodon", external_id=str(i), text=text, author_id=author, author_handle=author,
			author_name=author.title(), created_at=now, url="", kind="mention",
			language="de" if text.startswith("Der") else "en",
		))
	return posts


def rate(label: str, count: int, run: Callable[[], object], repeat: int = 3) -> float:
	"""Best of ``repeat`` runs, in items per second."""
	best = min(_timed(run) for _ in range(repeat))
	per_second = count / best
	print(f"{label}: {per_second:,.0f}/s ({count:,} in {best * 1000:.0f} ms)")
	return per_second


def _timed(run: Callable[[], object]) -> float:
	start = time.perf_counter()
	run()
	return time.perf_counter() - start


def ratio(label: str, value: float, target: float, higher_is_better: bool = True) -> None:
	r = value / target if higher_is_better else target / value
	verdict = "meets" if r >= 1 else "MISSES"
	print(f"  {label}: {r:.2f}x the target ({verdict})")
