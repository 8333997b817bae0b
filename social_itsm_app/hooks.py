app_name = "social_itsm_app"
app_title = "Social ITSM"
app_publisher = "Social ITSM contributors"
app_description = (
	"Social media channels for Frappe Helpdesk and ERPNext Support: listen, triage, "
	"turn posts into tickets and answer on the network."
)
app_email = "social-itsm@example.invalid"
app_license = "mit"

# Helpdesk and ERPNext are optional hosts: never list them in required_apps (that would force them onto
# every site). The app detects which one is installed (social_itsm_app.hosts).

add_to_apps_screen = [
	{
		"name": "social_itsm_app",
		"logo": "/assets/social_itsm_app/images/social-itsm.svg",
		"title": "Social ITSM",
		"route": "/app/social-itsm",
		"has_permission": "social_itsm_app.permissions.can_use_app",
	}
]

# Installation
# ------------

before_install = "social_itsm_app.install.before_install"
after_install = "social_itsm_app.install.after_install"
after_migrate = "social_itsm_app.install.after_migrate"
# Helpdesk or ERPNext installed after this app: give their ticket doctype our fields then.
after_app_install = "social_itsm_app.install.after_app_install"
before_uninstall = "social_itsm_app.install.before_uninstall"


# Desk forms of the hosts' ticket doctypes: the social panel and "Reply on <network>"
doctype_js = {"HD Ticket": "public/js/ticket_social.js", "Issue": "public/js/ticket_social.js"}
# Every desk page: an alert when the detector opens an incident (the social_itsm_incident realtime event).
app_include_js = ["/assets/social_itsm_app/js/incident_alert.js"]

# Document events
# ---------------

doc_events = {
	# An agent's answer on a ticket that came from a social post goes back to the network.
	"Communication": {"after_insert": "social_itsm_app.replies.outbound.on_communication_after_insert"},
}

# Scheduled jobs
# --------------

scheduler_events = {
	"cron": {
		# Cheap: one indexed query, then one job per due channel (see ingest/jobs.py).
		"* * * * *": [
			"social_itsm_app.ingest.jobs.enqueue_due_channels",
			"social_itsm_app.replies.outbound.retry_due_replies",
			# Broadcast channels whose retry time came (rate limits), and the paced answers to reporters.
			"social_itsm_app.incidents.broadcasts.retry_due_broadcasts",
			"social_itsm_app.incidents.reporters.answer_reporters",
		],
	},
	# Early warning's lead time: the first ticket by another route about a recent incident's service.
	"hourly": ["social_itsm_app.incidents.measures.fill_lead_times"],
	"daily_long": ["social_itsm_app.ingest.retention.purge_old_posts"],
}

# User Data Protection
# --------------------
# Frappe's "Download my data" and Personal Data Deletion Request find records by the requester's email address
# (a site User). Social Identity carries an address (the synthetic one, or whatever a deletion request names), so
# a request for it redacts the person's name and handle; frappe's own entries then cover the identity's Contact,
# the received Communications and the Email Unsubscribe. An agent's Social Replies are theirs (sent_by).
# Limits: Social Post has no address column (filtering by the default "owner" would hand an admin every post the
# scheduler stored), and people who only wrote on a network have no User and no real address here, so frappe's
# flow cannot reach them: their posts are erased with "Erase this person's social data" on the Social Identity
# (social_itsm_app.privacy).
user_data_fields = [
	{"doctype": "Social Identity", "filter_by": "email", "redact_fields": ["handle", "display_name", "profile_url"]},
	{"doctype": "Social Reply", "filter_by": "sent_by", "partial": True},
]

export_python_type_annotations = True

# Every whitelisted method declares its argument types (Frappe v16 checks them; v15 ignores the setting).
require_type_annotated_api_methods = True
