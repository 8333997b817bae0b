"""Connectors: one module per network behind one small contract (no frappe import anywhere here).

    from social_itsm_app.connectors import get_connector
    conn = get_connector("mastodon", {"base_url": "https://mastodon.social", "access_token": "..."})
    result = conn.fetch(cursor=None)          # FetchResult(posts, cursor)
    sent = conn.send_reply("Thanks!", in_reply_to=result.posts[0])
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import requests

from social_itsm_app.connectors.base import (
	AccountInfo,
	Connector,
	FetchResult,
	SentReply,
	SocialPost,
)
from social_itsm_app.connectors.errors import AuthError, ConnectorError, RateLimited

# network key -> "module:Class"; modules load lazily so one broken network never breaks the others.
NETWORKS: dict[str, str] = {
	"x": "social_itsm_app.connectors.x:XConnector",
	"mastodon": "social_itsm_app.connectors.mastodon:MastodonConnector",
	"bluesky": "social_itsm_app.connectors.bluesky:BlueskyConnector",
	"reddit": "social_itsm_app.connectors.reddit:RedditConnector",
	"facebook": "social_itsm_app.connectors.facebook:FacebookConnector",
	"telegram": "social_itsm_app.connectors.telegram:TelegramConnector",
	"discourse": "social_itsm_app.connectors.discourse:DiscourseConnector",
	"feed": "social_itsm_app.connectors.feed:FeedConnector",
	"whatsapp": "social_itsm_app.connectors.whatsapp:WhatsAppConnector",
	"instagram": "social_itsm_app.connectors.instagram:InstagramConnector",
}


def connector_class(network: str) -> type[Connector]:
	try:
		module_name, class_name = NETWORKS[network].split(":")
	except KeyError:
		raise ConnectorError(f"unknown network {network!r}; known: {', '.join(sorted(NETWORKS))}") from None
	try:
		return getattr(importlib.import_module(module_name), class_name)
	except (ImportError, AttributeError) as exc:
		raise ConnectorError(f"the {network} connector cannot be loaded: {exc}") from exc


def get_connector(network: str, config: Mapping[str, Any], session: requests.Session | None = None) -> Connector:
	"""Build the connector for ``network`` from an admin's ``config`` (plus any ``saved_state`` merged in)."""
	return connector_class(network)(config, session=session)


__all__ = [
	"NETWORKS",
	"AccountInfo",
	"AuthError",
	"Connector",
	"ConnectorError",
	"FetchResult",
	"RateLimited",
	"SentReply",
	"SocialPost",
	"connector_class",
	"get_connector",
]
