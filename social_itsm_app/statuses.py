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

# Social Incident.status: the detector opens it; an agent confirms, dismisses or resolves it.
DETECTED, CONFIRMED, RESOLVED, DISMISSED = "Detected", "Confirmed", "Resolved", "Dismissed"
INCIDENT_STATUSES = (DETECTED, CONFIRMED, RESOLVED, DISMISSED)
OPEN_INCIDENT_STATUSES = (DETECTED, CONFIRMED)  # later reports join an incident in one of these

# Social Broadcast.status: written, approved by a Social Publisher, then sent channel by channel.
DRAFT, AWAITING_APPROVAL, APPROVED, REJECTED = "Draft", "Awaiting Approval", "Approved", "Rejected"
BROADCAST_SENDING, BROADCAST_SENT, PARTLY_FAILED, BROADCAST_FAILED = "Sending", "Sent", "Partly Failed", "Failed"
BROADCAST_STATUSES = (
	DRAFT, AWAITING_APPROVAL, APPROVED, BROADCAST_SENDING, BROADCAST_SENT, PARTLY_FAILED, BROADCAST_FAILED, REJECTED
)
# Statuspage's update kinds: what the desk knows so far.
UPDATE_KINDS = ("Investigating", "Identified", "Monitoring", "Resolved")

# Social Broadcast Channel.status: one channel's delivery.
PENDING, NOT_SUPPORTED = "Pending", "Not Supported"
DELIVERY_STATUSES = (PENDING, BROADCAST_SENDING, BROADCAST_SENT, BROADCAST_FAILED, NOT_SUPPORTED)

# Who approves broadcasts (created on install).
PUBLISHER_ROLE = "Social Publisher"
