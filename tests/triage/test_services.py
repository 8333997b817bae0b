"""Which service a post says is down: aliases as whole words, negation, figures of speech, unknown topics."""

from __future__ import annotations

import pytest

from social_itsm_app.triage import outages
from social_itsm_app.triage.services import OutageReport, Service, ServiceCatalogue

CATALOGUE = ServiceCatalogue.from_records(
	[
		{"name": "VPN", "aliases": "GlobalProtect, remote access", "team": "Network"},
		{"name": "Email", "aliases": "Outlook\nmail\ne-mail", "team": "Messaging"},
		{"name": "Wi-Fi", "aliases": "wifi, wireless", "team": "Network"},
		{"name": "Payroll", "aliases": "Gehaltsabrechnung", "team": "HR Systems"},
		{"name": "Login page", "aliases": "SSO, single sign-on", "team": "Identity"},
		{"name": "Jira", "aliases": "issue tracker", "team": "Dev Tools"},
	]
)


def topics(text: str) -> list[str]:
	return [report.topic for report in CATALOGUE.reports(text)]


@pytest.mark.parametrize(
	("text", "expected"),
	[
		("The VPN is down again", ["service:VPN"]),
		("GlobalProtect keeps disconnecting", ["service:VPN"]),
		("REMOTE ACCESS not working since 9am", ["service:VPN"]),  # multi-word alias, any case
		("GlobalProtect's gateway returns 503", ["service:VPN"]),  # possessive
		("Gehaltsabrechnung: Störung seit heute früh", ["service:Payroll"]),  # accents folded ("storung")
		("wi fi is offline on floor 3", ["service:Wi-Fi"]),
		("WiFi down in building B", ["service:Wi-Fi"]),
		("Wi-Fi down in building B", ["service:Wi-Fi"]),
		("can't log in to SSO", ["service:Login page"]),
		("Outlook and the VPN are both down", ["service:Email", "service:VPN"]),
		("Love the new VPN, but email is down", ["service:Email"]),  # the outage's clause decides
		("VPN! still down since 9", ["service:VPN"]),  # no service in the clause: the post's
		("Outlook. Anyone else?", ["service:Email"]),
		("VPN is fine, the scanner is offline", ["term:scanner"]),  # ... unless the clause names something else
		("Anyone else having trouble with Outlook?", ["service:Email"]),  # weak cues count beside a service
	],
)
def test_outages_of_known_services(text, expected):
	assert topics(text) == expected


@pytest.mark.parametrize(
	"text",
	[
		"The VPN is not down, just slow",
		"VPN isn't down, restart your laptop",
		"No outage on email today, all good",
		"VPN was down but it's back up now",
		"Email works for me",
		"thumbs down to the new VPN look",
		"calm down, the VPN update is optional",
		"Outlook: how do I set an out of office?",
		"mailbox vpnclient and remoteaccess are not aliases",  # whole words only
		"my car broke down on the way to work",
		"Download the new GlobalProtect client here",
		"I love teams",
		"How do I share a link from the issue tracker?",  # an alias's own words ("issue") are no outage cue
		"Anyone else having trouble with zoomly?",  # weak cue, unknown topic: chatter
		"",
	],
)
def test_not_outage_reports(text):
	assert CATALOGUE.reports(text) == ()


def test_aliases_match_whole_words_ignoring_case_and_accents():
	assert [s.name for s in CATALOGUE.services_in("GLOBALPROTECT and Oütlook")] == ["VPN", "Email"]
	assert CATALOGUE.services_in("outlookish mailing globalprotection") == ()
	assert [s.name for s in CATALOGUE.services_in("my e-mail and my email")] == ["Email"]


def test_a_report_says_what_matched_and_who_owns_it():
	(report,) = CATALOGUE.reports("Can't connect to GlobalProtect, is it down for anyone else?")
	assert report == OutageReport("service:VPN", "VPN", "Network", ("globalprotect", "can't connect", "down", "anyone else"))


def test_unknown_services_cluster_by_the_word_next_to_the_outage_word():
	assert topics("is teams down?") == ["term:teams"]
	assert topics("Teams not working for anyone?") == ["term:teams"]
	assert topics("Can't log in to Zoomly since 9") == ["term:zoomly"]
	assert topics("Zoomly's login throws 502 bad gateway") == ["term:zoomly"]
	assert topics("ugh, is it just me or is Zoomly DOWN again") == ["term:zoomly"]
	assert topics("the printer at the office is down") == ["term:office", "term:printer"]  # up to two words
	assert topics("down again?!") == []  # nothing names what is down
	assert topics("@acme your site is down") == ["term:acme"]  # generic nouns never make a topic


def test_the_desks_own_names_never_key_an_unknown_topic():
	desk = ServiceCatalogue(CATALOGUE.services, ignore=("@Acme", "Globex Corp"))
	assert desk.ignore == {"acme", "globex", "corp"}
	assert [r.topic for r in desk.reports("@acme zoomly is down")] == ["term:zoomly"]
	assert desk.reports("@acme your site is down") == ()
	assert [r.topic for r in desk.reports("@acme the VPN is down")] == ["service:VPN"]


def test_negation_reads_two_words_back_within_the_clause():
	words = outages.tokens("Teams is not down, but Zoomly is down")
	assert [f.phrase for f in outages.find(words)] == ["down"]
	assert topics("Teams is not down, but Zoomly is down") == ["term:zoomly"]
	assert topics("No, teams is down") == ["term:teams"]  # the comma ends the negation
	assert topics("teams isnt down") == []


def test_service_from_record_keeps_the_name_as_an_alias():
	service = Service.from_record({"service_name": "Printing", "keywords": "printer, PaperCut", "owner_team": "Desk"})
	assert service == Service("Printing", ("Printing", "printer", "PaperCut"), "Desk")
	assert service.topic == "service:Printing"
	with pytest.raises(ValueError):
		Service.from_record({"aliases": "x"})


def test_a_large_catalogue_still_matches_by_whole_alias():
	big = ServiceCatalogue(Service(f"svc{n}", (f"svc{n}", f"product {n} cloud")) for n in range(5000))
	assert [r.topic for r in big.reports("product 4321 cloud is down")] == ["service:svc4321"]
	assert [r.topic for r in big.reports("svc17 not working; product 43 is fine")] == ["service:svc17"]
