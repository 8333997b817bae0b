"""The statuses of Social Post and Social Channel, one owner each (pure: no frappe import).

The doctypes' Select options are checked against these (tests/static/test_select_owners.py); Social Reply's
statuses belong to its state machine (replies/state.py).
"""

from __future__ import annotations

# Social Post.status
NEW, CONVERTED, LINKED, IGNORED, SPAM = "New", "Converted", "Linked", "Ignored", "Spam"
POST_STATUSES = (NEW, CONVERTED, LINKED, IGNORED, SPAM)
# Statuses an agent may set by hand; Converted and Linked come with a ticket, from the app only.
AGENT_POST_STATUSES = (NEW, IGNORED, SPAM)
TICKETED = (CONVERTED, LINKED)
UNTICKETED = tuple(status for status in POST_STATUSES if status not in TICKETED)

# Social Channel.status
ACTIVE, PAUSED, RATE_LIMITED = "Active", "Paused", "Rate Limited"
NEEDS_REAUTH, FAILING, DISABLED = "Needs Re-authentication", "Failing", "Disabled"
CHANNEL_STATUSES = (ACTIVE, PAUSED, RATE_LIMITED, NEEDS_REAUTH, FAILING, DISABLED)
# Written by the fetch job (a channel's health); an admin enables or disables, and new credentials resume.
HEALTH_STATUSES = (ACTIVE, RATE_LIMITED, NEEDS_REAUTH, FAILING)
