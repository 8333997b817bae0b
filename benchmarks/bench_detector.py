"""Early warning (issue 12): service matching and the burst detector, on one core.

Run: python benchmarks/bench_detector.py

(a) Throughput, posts/s, target 100,000: outage matching alone (ServiceCatalogue.reports), the detector alone (on
    the reports matching found) and both together, on the replay's realistic mix and on _common's corpus (70% of its
    posts use outage words: the worst case).
(b) Memory with 20,000 topics offered to a detector capped at 10,000: tracemalloc peak, and the saved record size.
(c) A replay of one day (after a day of warm-up, as a detector that has been running would have): 100,000+
    background posts (chatter, benign mentions of the services, figures of speech, complaints about things outside
    the catalogue, a low steady rate of real complaints per service, people who post the same complaint several
    times) and five injected outages, each a rising number of distinct authors over minutes (three services, two
    topics the catalogue does not know). Posts arrive in fetch-job batches per channel and minute, so out of order
    across channels. Printed per outage: delay in distinct authors and minutes from its start; and false alarms per
    100,000 background posts. Targets: <= 5 authors, <= 3 minutes, <= 1 false alarm per 100,000.
    The replay runs twice, in memory and with every batch loading and saving its topics as bytes (as the Frappe
    layer will with Redis), and says whether both decided the same.
(c') The same replay on eight more seeded days: a rate of one in 100,000 needs more than one day to show.

Seeded and deterministic: figures change only with the code (or the machine, for rates).
"""

from __future__ import annotations

import math
import random
import time
import tracemalloc
from dataclasses import dataclass
from datetime import datetime, timezone

from _common import corpus, rate, ratio

from social_itsm_app.triage.bursts import Alert, BurstDetector, BurstSettings
from social_itsm_app.triage.services import ServiceCatalogue

TARGET_RATE = 100_000
TARGET_AUTHORS, TARGET_MINUTES, TARGET_FALSE = 5, 3.0, 1.0
DAY = 86_400.0
T0 = datetime(2026, 11, 22, tzinfo=timezone.utc).timestamp()  # the warm-up day; the measured day is Monday 23rd

SERVICES = [
	("VPN", "GlobalProtect, remote access", "Network"), ("Email", "Outlook, mail, e-mail, mailbox", "Messaging"),
	("Wi-Fi", "wifi, wireless, eduroam", "Network"), ("SSO", "single sign-on, Okta, login page", "Identity"),
	("MFA", "Authenticator, two-factor, 2FA", "Identity"), ("Teams", "MS Teams, Microsoft Teams", "Collaboration"),
	("SharePoint", "intranet", "Collaboration"), ("OneDrive", "file sync", "Collaboration"),
	("Jira", "issue tracker", "Dev Tools"), ("Confluence", "wiki", "Dev Tools"), ("GitLab", "CI, pipelines", "Dev Tools"),
	("Payroll", "payslips, Gehaltsabrechnung", "HR Systems"), ("Workday", "HR portal", "HR Systems"),
	("SAP", "ERP", "Finance Systems"), ("Expenses", "Concur, expense tool", "Finance Systems"),
	("Printing", "printer, printers, PaperCut", "Desk"), ("Phones", "softphone, desk phone", "Network"),
	("Checkout", "webshop checkout, payment page", "Web"), ("Billing portal", "invoices portal", "Web"),
	("API", "public API, REST API", "Web"), ("Dashboard", "reporting dashboard", "Web"),
	("Laptop imaging", "Intune, device enrolment", "Desk"), ("Zoom", "zoom meetings", "Collaboration"),
	("Salesforce", "CRM", "Sales Systems"), ("Citrix", "remote desktop, VDI", "Network"),
]
CATALOGUE = ServiceCatalogue.from_records(({"name": n, "aliases": a, "team": t} for n, a, t in SERVICES), ignore=["acme"])
ALIASES = {name: [name, *(x.strip() for x in aliases.split(","))] for name, aliases, _ in SERVICES}

COMPLAINTS = [
	"{s} is down", "is {s} down for anyone else?", "{s} not working again", "can't connect to {s}",
	"{s} keeps timing out", "anyone else getting 503 from {s}?", "{s} down?? can't work like this",
	"cannot log in to {s} since this morning", "{s} outage?", "is it just me or is {s} not loading",
	"{s} throws 502 bad gateway", "ugh {s} crashed again", "{s} unreachable from the home office",
	"@acme {s} is offline", "{s} not responding, tried twice", "{S} DOWN AGAIN!!!", "no {s} for me, stopped working",
	"Is {s} having an outage right now?", "{s} is unavailable, getting errors",
]
BENIGN_SERVICE = [
	"How do I reset my {s} password?", "Love the new {s} update", "Where can I find the {s} guide?",
	"{s} training tomorrow at 10", "thanks for fixing {s} yesterday, works fine now", "thumbs down to the new {s} colours",
	"is there a {s} app for android?", "{s} was down earlier but it's back up now", "{s} is not down, restart your laptop",
	"Does {s} support dark mode?", "Requesting access to {s} for the new intern", "{s} looks different today, nice",
]
FIGURES = [
	"thumbs down to mondays", "calm down everyone, it's just a fire drill", "my car broke down on the highway",
	"the stock market crashed lol", "sit down and relax, it's friday", "playing in offline mode on the train",
	"please slow down in the car park", "the painting in the lobby is upside down", "let me write down the room number",
	"the lift is down to one working door, stairs it is",
]
EXTERNAL = ["{x} is down again lol", "{x} not working for me", "{x} down?", "can't log in to {x}", "{x} outage again",
	"{x} app stopped working", "{x} keeps crashing on my phone"]
CHATTER_WORDS = (
	"coffee meeting lunch project deadline report slides weekend holiday team office building floor parking train "
	"weather rain sunny football match coworker birthday cake email invite calendar review budget quarter plan "
	"launch customer feedback design idea question answer update news article podcast music playlist book movie "
	"kitchen desk chair monitor keyboard mouse headset charger cable badge canteen gym bike walk run sleep tired "
	"happy busy great thanks please help anyone know where when why how today tomorrow yesterday morning evening"
).split()


def pseudo_words(rng: random.Random, count: int) -> list[str]:
	syllables = "ka zo mi ru te lo pa ni shu vex dra qui bel tor fin gal mos rix zen lum".split()
	words: set[str] = set()
	while len(words) < count:
		words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 3))))
	return sorted(words)


@dataclass
class Outage:
	topic: str
	label: str  # alias or unknown name used in the posts
	start: float
	ramp: float  # seconds over which the rate of new authors rises from 0 to the peak
	peak: float  # new authors per minute at the peak
	duration: float


def outage_plan() -> list[Outage]:
	hour = 3600.0
	return [
		Outage("service:VPN", "vpn", T0 + DAY + 8.6 * hour, 180, 20, 45 * 60),  # Monday 08:36, everyone logging in
		Outage("service:Email", "outlook", T0 + DAY + 11.2 * hour, 240, 10, 30 * 60),
		Outage("term:zoomly", "Zoomly", T0 + DAY + 14.05 * hour, 180, 8, 25 * 60),  # a SaaS nobody catalogued
		Outage("service:Payroll", "payslips", T0 + DAY + 16.5 * hour, 120, 5, 20 * 60),  # few people, a small one
		Outage("term:paybridge", "PayBridge", T0 + DAY + 21.3 * hour, 180, 6, 20 * 60),  # in the evening
	]


def diurnal(t: float) -> float:
	"""Relative chatter level by hour of day: 0.25 at night, 1.6 at mid-morning."""
	hour = ((t - T0) % DAY) / 3600
	return 0.25 + 1.35 * math.exp(-(((hour - 11) / 4.5) ** 2))


def background(rng: random.Random, day_start: float, posts: int) -> list[tuple[float, str, str, str]]:
	"""(time, channel, author, text) for one day, about ``posts`` of them."""
	externals = pseudo_words(rng, 400)
	popular = ["netflix", "spotify", "instagram", "youtube", "power"]
	out = []
	weights = [diurnal(day_start + m * 60) for m in range(1440)]
	scale = posts / sum(weights)
	for minute, weight in enumerate(weights):
		for _ in range(_poisson(rng, weight * scale)):
			t = day_start + (minute + rng.random()) * 60
			author = f"u{int(rng.paretovariate(1.1)) % 60_000}" if rng.random() < 0.3 else f"u{rng.randrange(60_000)}"
			roll = rng.random()
			if roll < 0.765:
				text = " ".join(rng.choice(CHATTER_WORDS) for _ in range(rng.randint(5, 14)))
			elif roll < 0.915:
				name = rng.choice(SERVICES)[0]
				text = rng.choice(BENIGN_SERVICE).format(s=rng.choice(ALIASES[name]))
			elif roll < 0.975:
				text = rng.choice(FIGURES)
			elif roll < 0.995:  # complaints about things outside the catalogue, a few of them popular
				x = rng.choice(popular) if rng.random() < 0.1 else externals[min(int(rng.expovariate(1 / 60)), 399)]
				text = rng.choice(EXTERNAL).format(x=x)
			else:  # the steady trickle of real complaints: about 500 a day over 25 services, ~1 an hour each
				name = rng.choice(SERVICES)[0]
				text = _complaint(rng, rng.choice(ALIASES[name]))
				if rng.random() < 0.1:  # someone angry posts it again a few times
					for k in range(rng.randint(2, 6)):
						out.append((t + 40 * (k + 1), rng.choice("ABC"), author, _complaint(rng, rng.choice(ALIASES[name]))))
			out.append((t, rng.choice("ABC"), author, text))
	return out


def _complaint(rng: random.Random, name: str) -> str:
	template = rng.choice(COMPLAINTS)
	return template.format(s=name, S=name.upper())


def injected(rng: random.Random, outage: Outage) -> list[tuple[float, str, str, str]]:
	"""Distinct new authors arriving at a rate rising linearly from 0 to ``peak``/min over ``ramp``, then steady
	(drawn second by second); three in ten post again once or more."""
	out = []
	for second in range(int(outage.duration)):
		per_second = outage.peak / 60 * min(1.0, (second + 0.5) / outage.ramp)
		if rng.random() < per_second:
			t = outage.start + second + rng.random()
			author = f"o{outage.label}{len(out)}"
			for k in range(1 if rng.random() < 0.7 else rng.randint(2, 4)):
				out.append((t + 90 * k, rng.choice("ABC"), author, _complaint(rng, outage.label)))
	return out


def batches(posts: list[tuple[float, str, str, str]]) -> list[list[tuple[float, str, str, str]]]:
	"""What fetch jobs deliver: each channel polled once a minute (A at :00, B at :20, C at :40), so posts reach
	the detector in channel batches, out of order across channels."""
	offset = {"A": 0.0, "B": 20.0, "C": 40.0}
	by_job: dict[tuple[float, str], list] = {}
	for post in posts:
		t, channel = post[0], post[1]
		due = math.floor((t - offset[channel]) / 60) * 60 + 60 + offset[channel]
		by_job.setdefault((due, channel), []).append(post)
	return [sorted(by_job[key]) for key in sorted(by_job)]


def _clock(t: float) -> str:
	return datetime.fromtimestamp(t, timezone.utc).strftime("%H:%M")


def _poisson(rng: random.Random, mean: float) -> int:
	count, limit, product = 0, math.exp(-mean), rng.random()
	while product > limit:
		count += 1
		product *= rng.random()
	return count


def replay_posts(seed: int = 12) -> tuple[list, list, list[Outage], int]:
	rng = random.Random(seed)
	warmup = background(rng, T0, 100_000)
	day = background(rng, T0 + DAY, 105_000)
	plan = outage_plan()
	outage_posts = [post for outage in plan for post in injected(rng, outage)]
	return batches(warmup), batches(day + outage_posts), plan, len(day)


def run_replay(jobs: list[list], persisted: bool, settings: BurstSettings) -> tuple[list[Alert], list]:
	"""Alerts, and what the detector saw in order: (job's time, topic, post time, author, alert or None)."""
	alerts: list[Alert] = []
	seen = []
	store: dict[str, bytes] = {}
	detector = BurstDetector(settings)
	for job in jobs:
		if persisted:  # each fetch job: a fresh worker loads only the topics its posts touch, saves them after
			detector = BurstDetector(settings, load=store.get)
		delivered = job[-1][0]
		for t, _channel, author, text in job:
			for report in CATALOGUE.reports(text):
				event = detector.observe(report, author, t)
				if isinstance(event, Alert):
					alerts.append(event)
				seen.append((delivered, report.topic, t, author, event if isinstance(event, Alert) else None))
		if persisted:
			store.update(detector.changed())
	return alerts, seen


@dataclass
class Score:
	delays: list[tuple[float, float, str, float]]  # per outage: distinct authors, minutes, text, 5th author's minute
	duplicates: list[Alert]  # alerts on another word of an outage's own posts (an unknown topic's second word)
	false: list[Alert]
	warmup_alerts: int


def score(alerts: list[Alert], seen: list, day: list, plan: list[Outage]) -> Score:
	day_alerts = [a for a in alerts if a.last_at >= T0 + DAY]
	matched: set[int] = set()
	delays: list[tuple[float, float, str, float]] = []
	for outage in plan:
		end = outage.start + outage.duration
		mine = [a for a in day_alerts if a.topic == outage.topic and outage.start <= a.last_at <= end]
		if not mine:
			delays.append((math.inf, math.inf, f"  outage {outage.topic}: NOT DETECTED", math.nan))
			continue
		alert = mine[0]
		matched.add(id(alert))
		# distinct authors the detector had seen on this topic since the start, up to the report that fired
		reporters: set[str] = set()
		for _delivered, topic, t, author, event in seen:
			if topic == outage.topic and t >= outage.start:
				reporters.add(author)
				if event is alert:
					break
		delivered_at, _, fired_at, _, _ = next(s for s in seen if s[4] is alert)
		posted = sorted((t, a) for _d, topic, t, a, _e in seen if topic == outage.topic and t >= outage.start)
		firsts = list(dict.fromkeys(a for _t, a in posted))
		fifth = next(t for t, a in posted if a == firsts[4])
		minutes = (fired_at - outage.start) / 60
		text = (f"  outage {outage.topic:<16} at {_clock(outage.start)} (new authors/min rising to {outage.peak:g} over "
			f"{outage.ramp / 60:g} min): fired at distinct author {len(reporters)}, {minutes:.1f} min after its start by "
			f"the posts' time ({(delivered_at - outage.start) / 60:.1f} min with the minute's polling); its 5th author "
			f"posted at {(fifth - outage.start) / 60:.1f} min\n    {alert.reason()}")
		delays.append((len(reporters), minutes, text, (fifth - outage.start) / 60))
	outage_authors = {author for job in day for _t, _c, author, _x in job if author.startswith("o")}
	duplicates = [a for a in day_alerts if id(a) not in matched and set(a.authors) & outage_authors]
	false = [a for a in day_alerts if id(a) not in matched and a not in duplicates]
	return Score(delays, duplicates, false, len(alerts) - len(day_alerts))


def replay(settings: BurstSettings) -> None:
	print("\n(c) replay: a warm-up day, then a measured day with five outages")
	warmup, day, plan, background_posts = replay_posts()
	total_day = sum(map(len, day))
	print(f"  measured day: {total_day:,} posts ({background_posts:,} background, {total_day - background_posts:,} from "
		f"the outages); {settings}")
	start = time.perf_counter()
	alerts, seen = run_replay(warmup + day, persisted=False, settings=settings)
	seconds = time.perf_counter() - start
	print(f"  two days replayed in memory in {seconds:.2f} s ({sum(map(len, warmup + day)) / seconds:,.0f} posts/s)")
	result = score(alerts, seen, day, plan)
	for _authors, _minutes, text, _fifth in result.delays:
		print(text)
	print(f"  alerts during warm-up (not counted): {result.warmup_alerts}; on another word of an outage's own posts "
		f"(not counted): {len(result.duplicates)} {[a.topic for a in result.duplicates]}")
	for alert in result.false:
		print(f"  false alarm: {alert.reason()}")
	per_100k = len(result.false) / background_posts * 100_000
	worst_authors = max(d[0] for d in result.delays)
	worst_minutes = max(d[1] for d in result.delays)
	print(f"  false alarms: {len(result.false)} in {background_posts:,} background posts = {per_100k:.2f} per 100,000")
	ratio(f"detection within {TARGET_AUTHORS} distinct authors (worst {worst_authors})", TARGET_AUTHORS, worst_authors)
	ratio(f"detection within {TARGET_MINUTES:g} minutes (worst {worst_minutes:.1f})", TARGET_MINUTES, worst_minutes)
	print(f"  false alarms per 100,000 background posts {per_100k:.2f} vs at most {TARGET_FALSE:g}: "
		f"{'meets' if per_100k <= TARGET_FALSE else 'MISSES'}")
	start = time.perf_counter()
	persisted, _ = run_replay(warmup + day, persisted=True, settings=settings)
	print(f"  replayed again with every fetch job loading and saving its topics as bytes ({time.perf_counter() - start:.2f} s): "
		f"{'identical alerts' if persisted == alerts else 'DIFFERENT ALERTS'}")


def robustness(settings: BurstSettings, seeds: range) -> None:
	"""One day says little about a rate of one in 100,000: the same replay with other seeds (other background,
	outage arrivals and authors)."""
	print(f"\n(c') the replay on {len(seeds)} more seeded days")
	false_total = background_total = 0
	worst_authors, worst_minutes = 0, 0.0
	for seed in seeds:
		warmup, day, plan, background_posts = replay_posts(seed)
		alerts, seen = run_replay(warmup + day, persisted=False, settings=settings)
		result = score(alerts, seen, day, plan)
		false_total += len(result.false)
		background_total += background_posts
		worst_authors = max(worst_authors, max(d[0] for d in result.delays))
		worst_minutes = max(worst_minutes, max(d[1] for d in result.delays))
		print(f"  seed {seed}: fired at author/minute (5th author's minute) "
			f"{', '.join(f'{a}/{m:.1f} ({f:.1f})' for a, m, _, f in result.delays)}; "
			f"false alarms {len(result.false)}{': ' + ', '.join(a.topic for a in result.false) if result.false else ''}")
	per_100k = false_total / background_total * 100_000
	print(f"  all {len(seeds)} days: worst {worst_authors} distinct authors, {worst_minutes:.1f} min; false alarms "
		f"{false_total} in {background_total:,} background posts = {per_100k:.2f} per 100,000")
	ratio(f"detection within {TARGET_AUTHORS} distinct authors", TARGET_AUTHORS, worst_authors)
	ratio(f"detection within {TARGET_MINUTES:g} minutes", TARGET_MINUTES, worst_minutes)
	print(f"  false alarms per 100,000 background posts {per_100k:.2f} vs at most {TARGET_FALSE:g}: "
		f"{'meets' if per_100k <= TARGET_FALSE else 'MISSES'}")


def throughput(settings: BurstSettings) -> None:
	reports_of = CATALOGUE.reports
	print("(a) throughput on one core")
	_, day, _, _ = replay_posts()
	mix = [post for job in day for post in job][:100_000]
	house = [(p.created_at.timestamp() + n * 0.5, p.author_id, p.text) for n, p in enumerate(corpus(100_000))]
	for label, posts in (("replay mix", [(t, a, text) for t, _c, a, text in mix]), ("_common corpus", house)):
		texts = [text for _t, _a, text in posts]
		reports = [(r, a, t) for t, a, text in posts for r in CATALOGUE.reports(text)]
		share = sum(1 for text in texts if CATALOGUE.reports(text)) / len(texts)
		print(f"  {label}: {len(texts):,} posts, {share:.0%} outage reports, {len(reports):,} reports")
		matching = rate("    matching (ServiceCatalogue.reports)", len(texts), lambda texts=texts: [reports_of(x) for x in texts])

		def detect(reports=reports) -> None:
			detector = BurstDetector(settings)
			observe = detector.observe
			for report, author, t in reports:
				observe(report, author, t)

		detecting = rate("    detector alone, per report", len(reports), detect)

		def both(posts=posts) -> None:
			detector = BurstDetector(settings)
			observe = detector.observe
			for t, author, text in posts:
				for report in reports_of(text):
					observe(report, author, t)

		combined = rate("    matching + detector, per post", len(posts), both)
		ratio("matching posts/s vs 100,000", matching, TARGET_RATE)
		ratio("detector reports/s vs 100,000", detecting, TARGET_RATE)
		ratio("matching + detector posts/s vs 100,000", combined, TARGET_RATE)


def memory(settings: BurstSettings) -> None:
	print("\n(b) memory: 20,000 topics (3 authors each) offered to a detector holding at most 10,000")
	reports = [CATALOGUE.reports(f"gizmo{n} is down")[0] for n in range(20_000)]
	tracemalloc.start()
	detector = BurstDetector(settings)
	for n, report in enumerate(reports):
		for k in range(3):
			detector.observe(report, f"user{n}-{k}", T0 + n + k)
		if n % 1000 == 999:
			detector.changed()  # a fetch job saves its topics: nothing piles up
	current, peak = tracemalloc.get_traced_memory()
	tracemalloc.stop()
	sizes = [len(data) for data in detector.dump().values()]
	print(f"  topics held: {len(detector):,}; tracemalloc now {current / 1e6:.1f} MB, peak {peak / 1e6:.1f} MB "
		f"({peak / len(detector):,.0f} bytes per topic held); a saved topic: {sum(sizes) / len(sizes):.0f} bytes")
	print(f"  authors per topic capped at {settings.max_authors} and at one window's worth")


def main() -> None:
	settings = BurstSettings()
	throughput(settings)
	memory(settings)
	replay(settings)
	robustness(settings, range(1, 9))


if __name__ == "__main__":
	main()
