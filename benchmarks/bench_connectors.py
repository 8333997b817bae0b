"""Connector parsing throughput: recorded API pages through each network's parse_payload, one core.

Target (issue 3): at least 20,000 posts/s per core for the JSON networks (feeds are XML and reported only).
The pages are the recorded fixtures (tests/fixtures/<network>/), their items repeated to 100 per page, so
the mix of plain and hostile posts (markup, entities, emoji) is the fixtures' own.

Run: python benchmarks/bench_connectors.py [--posts 100000]
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
from pathlib import Path

from _common import rate, ratio

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
TARGET = 20_000
PAGE = 100


def _repeat(items: list, size: int = PAGE) -> list:
	return [copy.deepcopy(items[i % len(items)]) for i in range(size)]


def _json(network: str, name: str):
	return json.loads((FIXTURES / network / f"{name}.json").read_text())


def x_page():
	page = _json("x", "mentions_page1")
	return {**page, "data": _repeat(page["data"])}


def mastodon_page():
	return _repeat(_json("mastodon", "notifications_page1"))


def facebook_page():
	page = _json("facebook", "feed_page1")
	return {**page, "data": _repeat(page["data"])}


def discourse_page():
	page = _json("discourse", "posts_page1")
	return {**page, "latest_posts": _repeat(page["latest_posts"])}


def reddit_page():
	page = _json("reddit", "inbox_page1")
	return {**page, "data": {**page["data"], "children": _repeat(page["data"]["children"])}}


def bluesky_page():
	page = _json("bluesky", "notifications_page1")
	return {**page, "notifications": _repeat(page["notifications"])}


def telegram_page():
	page = _json("telegram", "updates_page1")
	return {**page, "result": _repeat(page["result"])}


# network -> builder of one page (JSON networks are held to the target)
JSON_NETWORKS = {
	"x": x_page, "mastodon": mastodon_page, "facebook": facebook_page, "discourse": discourse_page,
	"reddit": reddit_page, "bluesky": bluesky_page, "telegram": telegram_page,
}


def main() -> None:
	parser = argparse.ArgumentParser()
	parser.add_argument("--posts", type=int, default=100_000)
	args = parser.parse_args()
	for network, build in JSON_NETWORKS.items():
		try:
			page = build()
			parse = importlib.import_module(f"social_itsm_app.connectors.{network}").parse_payload
		except (FileNotFoundError, ImportError, KeyError) as exc:
			print(f"{network}: not measured ({type(exc).__name__}: {exc})")
			continue
		per_page = len(parse(page))
		pages = max(1, args.posts // per_page)
		per_second = rate(f"{network} parse_payload", pages * per_page, lambda parse=parse, page=page, pages=pages: [parse(page) for _ in range(pages)], repeat=1)
		ratio(f"{network} vs 20,000 posts/s", per_second, TARGET)
	from social_itsm_app.connectors.feed import parse_payload as parse_feed

	body = (FIXTURES / "feed" / "rss2.xml").read_bytes()
	entries = len(parse_feed(body))
	pages = max(1, args.posts // 100 // entries)
	rate("feed (RSS 2.0, XML; no target)", pages * entries, lambda: [parse_feed(body) for _ in range(pages)], repeat=1)


if __name__ == "__main__":
	main()
