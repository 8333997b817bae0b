"""Every Select field's options have one owner in Python: the doctype JSON must list exactly what the owner says.

Change a status or a network in its owner module, then in the doctype (the form offers what the JSON lists); this
test fails until both agree. A new Select field needs a row here.
"""

from __future__ import annotations

import pytest

from social_itsm_app import statuses
from social_itsm_app.channels.config import INTAKE_MODES, NETWORK_KEYS
from social_itsm_app.connectors.base import KINDS
from social_itsm_app.content import NETWORK_NAMES
from social_itsm_app.hosts import TICKET_DOCTYPE_CHOICES
from social_itsm_app.replies.state import REPLY_MODES, REPLY_STATUSES
from social_itsm_app.triage.rules import ACTIONS, MATCH_TYPES
from social_itsm_app.triage.scoring import MOODS, URGENCY_LEVELS
from tests.static.appfiles import doctypes, fixture_docs

NETWORKS = tuple(NETWORK_KEYS)
OWNERS: dict[tuple[str, str], tuple[str, ...]] = {
	("Social Channel", "network"): NETWORKS,
	("Social Channel", "default_reply_mode"): REPLY_MODES,
	("Social Channel", "status"): statuses.CHANNEL_STATUSES,
	("Social Channel", "intake_mode"): INTAKE_MODES,
	("Social Identity", "network"): NETWORKS,
	("Social ITSM Settings", "ticket_doctype"): TICKET_DOCTYPE_CHOICES,
	("Social Listening Rule", "match_type"): MATCH_TYPES,
	("Social Listening Rule", "action"): ACTIONS,
	("Social Post", "network"): NETWORKS,
	("Social Post", "kind"): KINDS,
	("Social Post", "status"): statuses.POST_STATUSES,
	("Social Post", "mood"): ("", *MOODS),  # empty until scored
	("Social Post", "urgency_level"): ("", *URGENCY_LEVELS),
	("Social Reply", "reply_mode"): REPLY_MODES,
	("Social Reply", "status"): REPLY_STATUSES,
	("Social Incident", "status"): statuses.INCIDENT_STATUSES,
	("Social Broadcast", "status"): statuses.BROADCAST_STATUSES,
	("Social Broadcast", "update_kind"): statuses.UPDATE_KINDS,
	("Social Broadcast Channel", "status"): statuses.DELIVERY_STATUSES,
	# custom fields on the hosts' tickets
	("HD Ticket", "social_reply_mode"): REPLY_MODES,
	("Issue", "social_reply_mode"): REPLY_MODES,
}


def select_fields() -> dict[tuple[str, str], str]:
	found = {
		(name, field["fieldname"]): field.get("options") or ""
		for name, data in doctypes().items()
		for field in data["fields"] if field["fieldtype"] == "Select"
	}
	for doc in fixture_docs():
		if doc.get("doctype") == "Custom Field" and doc.get("fieldtype") == "Select":
			found[(doc["dt"], doc["fieldname"])] = doc.get("options") or ""
	return found


def test_every_select_field_has_an_owner():
	assert set(select_fields()) == set(OWNERS)


@pytest.mark.parametrize("where", sorted(OWNERS))
def test_select_options_are_the_owners(where):
	assert tuple(select_fields()[where].split("\n")) == OWNERS[where], f"{where}: the doctype and its owner differ"


def test_defaults_are_the_owners_first_choice_or_blank():
	for (name, fieldname), owner in OWNERS.items():
		field = next((f for f in doctypes().get(name, {}).get("fields", []) if f["fieldname"] == fieldname), None)
		if field and field.get("default"):
			assert field["default"] in owner


def test_status_groups_are_parts_of_their_owner():
	assert set(statuses.AGENT_POST_STATUSES) | set(statuses.TICKETED) == set(statuses.POST_STATUSES)
	assert set(statuses.UNTICKETED).isdisjoint(statuses.TICKETED)
	assert set(statuses.HEALTH_STATUSES) < set(statuses.CHANNEL_STATUSES)


def test_every_network_has_a_display_name():
	assert set(NETWORK_NAMES) == set(NETWORK_KEYS)
