# Copyright (c) 2026, Social ITSM contributors
# For license information, please see license.txt

from secrets import token_urlsafe

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import get_url

from social_itsm_app.channels.config import (
	POLL_OR_PUSH,
	POLLING,
	PUSH,
	PUSHED_NETWORKS,
	SECRET_FIELDS,
	is_push,
	missing_fields,
	missing_push_fields,
	push_key,
	webhook_secret_problem,
)
from social_itsm_app.channels.runtime import build_connector
from social_itsm_app.connectors import ConnectorError
from social_itsm_app.statuses import ACTIVE, DISABLED, NEEDS_REAUTH

# The one guest method of the app (api/webhook.py); addressed by path: models never import the api layer.
RECEIVE_URL = "/api/method/social_itsm_app.api.webhook.receive?channel="


class SocialChannel(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		access_token: DF.Password | None
		account_handle: DF.Data | None
		account_id: DF.Data | None
		account_password: DF.Password | None
		allow_links_in_replies: DF.Check
		base_url: DF.Data | None
		category: DF.Data | None
		channel_name: DF.Data
		client_id: DF.Data | None
		client_secret: DF.Password | None
		connector_state: DF.Password | None
		consecutive_failures: DF.Int
		css_selector: DF.Data | None
		cursor: DF.SmallText | None
		default_reply_mode: DF.Literal["Public", "Private"]
		enabled: DF.Check
		intake_mode: DF.Literal["Polling", "Push"]
		last_error: DF.SmallText | None
		last_fetched_at: DF.Datetime | None
		last_success_at: DF.Datetime | None
		listen_direct_messages: DF.Check
		listen_mentions: DF.Check
		network: DF.Literal["X", "Mastodon", "Bluesky", "Reddit", "Facebook Page", "Telegram", "Discourse", "Feed", "Webhook", "WhatsApp", "Instagram"]
		next_fetch_at: DF.Datetime | None
		paused_until: DF.Datetime | None
		poll_interval: DF.Int
		posts_fetched: DF.Int
		refresh_token: DF.Password | None
		search_query: DF.SmallText | None
		status: DF.Literal["Active", "Paused", "Rate Limited", "Needs Re-authentication", "Failing", "Disabled"]
		subreddits: DF.SmallText | None
		webhook_key: DF.Data | None
		webhook_secret: DF.Password | None
	# end: auto-generated types
	def onload(self):
		"""What the form shows about push intake: the URL to paste, and whether frappe/whatsapp is here too."""
		if self.webhook_key and push_key(self.network):
			self.set_onload("webhook_url", get_url(RECEIVE_URL + self.webhook_key))
		self.set_onload("whatsapp_app_installed", "whatsapp" in frappe.get_installed_apps())

	def validate(self):
		self.normalise_base_url()
		self.set_intake()
		self.validate_poll_interval()
		self.validate_required_settings()
		if self.credentials_changed():
			# Tokens a connector refreshed from the old credentials must not override the new ones.
			self.connector_state = None
		self.keep_health_status()
		if not self.enabled:
			self.status = DISABLED
		elif self.status == DISABLED or (self.status == NEEDS_REAUTH and self.credentials_changed()):
			self.resume()

	def keep_health_status(self):
		"""The status is the app's: the fetch job writes the channel's health, and an admin's levers are Enabled and
		new credentials (see validate). What a save sends is replaced by the stored status rather than refused: a
		form opened before the job wrote a new status sends the old one back."""
		if self.flags.social_itsm:
			return
		before = None if self.is_new() else self.get_doc_before_save()
		self.status = before.status if before is not None else ACTIVE

	def credentials_changed(self) -> bool:
		return not self.is_new() and any(self.has_value_changed(fieldname) for fieldname in SECRET_FIELDS)

	def resume(self):
		"""New credentials (or re-enabling) end a pause: fetch at the next scheduler tick."""
		self.status = ACTIVE
		self.consecutive_failures = 0
		self.paused_until = None
		self.next_fetch_at = None

	def set_intake(self):
		"""Push-only networks always push, the rest poll unless they can do both; every channel has a webhook key
		(unguessable: it is the only thing that tells one channel's URL from another's)."""
		if self.network in PUSHED_NETWORKS:
			self.intake_mode = PUSH
		elif self.network not in POLL_OR_PUSH or not self.intake_mode:
			self.intake_mode = POLLING
		if not self.webhook_key:
			self.webhook_key = token_urlsafe(24)

	def on_update(self):
		if self.network == "Telegram" and self.has_value_changed("intake_mode") and not is_push(self.as_dict()) \
			and not self.is_new():
			self.stop_telegram_webhook()

	def stop_telegram_webhook(self):
		"""Back to polling: Telegram refuses getUpdates while a webhook is set."""
		try:
			build_connector(self).delete_webhook()
		except ConnectorError as exc:
			frappe.msgprint(_("Telegram still has this bot's webhook ({0}); polling fails until it is removed.").format(
				frappe.utils.escape_html(str(exc)[:300])), indicator="orange")

	def normalise_base_url(self):
		if self.base_url:
			self.base_url = self.base_url.strip().rstrip("/")
			if not self.base_url.startswith(("https://", "http://")):
				self.base_url = "https://" + self.base_url

	def validate_poll_interval(self):
		if (self.poll_interval or 0) < 1:
			self.poll_interval = 1

	def validate_required_settings(self):
		"""Say which fields this network still needs, in the form's own labels."""
		values = self.as_dict()
		for fieldname in SECRET_FIELDS:
			# A saved password reads back as asterisks, which still means "filled in".
			values[fieldname] = self.get(fieldname) or (self.get_password(fieldname, raise_exception=False) if not self.is_new() else None)
		missing = missing_fields(values) + missing_push_fields(values)
		if missing:
			labels = ", ".join(_(self.meta.get_label(fieldname)) for fieldname in missing)
			frappe.throw(_("{0} needs: {1}").format(_(self.network), labels), title=_("Channel settings incomplete"))
		typed = self.webhook_secret or ""
		problem = webhook_secret_problem(self.network, typed) if typed and set(typed) != {"*"} else None
		if problem:
			frappe.throw(_("The webhook secret must be {0}.").format(_(problem)), title=_("Webhook secret"))
