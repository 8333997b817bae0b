"""Hear the outage in the chatter: a burst detector over outage reports, per topic. Pure Python, no frappe.

Each topic (a known service, or an unknown one keyed by a word, see services.py) is watched on its own:

* **Distinct authors, not posts.** Like Downdetector, only an author's first report in a window counts: one angry
  person posting ten times is one author. Authors are counted in a sliding ``window`` ending at the newest report
  seen for the topic.
* **Against the topic's own baseline.** The baseline is an exponentially weighted rate of counted authors per
  hour (half-life ``half_life``), never below ``floor``. It learns from every counted author, bursts included: a
  small outage hardly moves it (60 authors in an hour add about 7/h, and min_authors still decides), a huge one
  raises the bar for a few hours against its own aftershocks, and a topic that is simply busy learns that it is.
  ``dismiss`` raises it on purpose.
* **Fires** when the window holds at least ``min_authors`` distinct authors *and* more than ``factor`` times what
  the baseline expects in a window. A topic then is in an *episode*: it fires once, later reports are returned as
  :class:`Joined` (the Frappe layer attaches them to the open incident), until the window has stayed at or below
  that factor x baseline level for ``linger`` (for a quiet topic: no report for ``linger``), or
  ``close``/``dismiss`` ends it.
* **Time comes from the posts** (``created_at``), never the wall clock, so a replay decides the same way; a post
  up to ``window`` older than the newest one of its topic still counts (fetch jobs of channels finish out of
  order), an older one only joins an open episode.

State is per topic and small (its authors in the window, the baseline, the episode): ``dump_topic``/``load_topic``
give compact bytes, so a fetch job touching three topics loads and saves three records (``BurstDetector(load=...)``
and ``changed()``). Memory is bounded: ``max_topics`` topics in memory (least recently seen evicted; one evicted
with unsaved changes waits, serialised, in ``changed()``), at most ``max_authors`` authors per topic.

Defaults (window 5 min, at least 5 authors, factor 3, floor 0.5 authors/h, half-life 6 h, linger 30 min) were
tuned on benchmarks/bench_detector.py's replay: a day of 100,000+ posts after a day of warm-up, with a steady
trickle of about one complaining author per hour per service (more by day than by night), complaints about
popular things outside the catalogue at 2-3 authors/h, and five injected outages. Every outage fired as its 5th
distinct author posted (the 4th when a background complainer was already in the window), 1-3.5 minutes after
it began; nine seeded days gave one false alarm in 946,000 background posts. Why these:

* ``min_authors`` 5: a window at a baseline of 3 authors/h expects 0.25 authors; 5 or more in it happen by chance
  once in about 150,000 windows (Poisson), 4 once in 7,500. On the nine replayed days 4 authors gave 11 false
  alarms (1.2 per 100,000 posts) for detection about half a minute sooner.
* ``window`` 5 min: a 10-minute window doubles what the baseline expects; it gave 7 false alarms on the same nine
  days. Outages that matter bring 5 people within minutes; one too small to bring 5 distinct authors within
  5 minutes is not heard until it grows.
* ``factor`` 3 only matters for busy topics (a baseline above 12 authors/h at these settings), where 5 authors in
  5 minutes are ordinary.
* ``half_life`` 6 h follows a service's daily rhythm and growing user base without one busy hour swamping it.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, NamedTuple

from social_itsm_app.connectors.base import SocialPost
from social_itsm_app.triage.normalize import handle_key
from social_itsm_app.triage.services import OutageReport

FORMAT = 1  # version of dump_topic's bytes; load_topic starts afresh on anything else


@dataclass(frozen=True, slots=True)
class BurstSettings:
	window: float = 300.0  # seconds over which distinct authors are counted
	min_authors: int = 5  # never fire on fewer distinct authors in the window
	factor: float = 3.0  # ... nor on fewer than factor x what the baseline expects in a window
	floor: float = 0.5  # authors/hour: the least baseline a topic is assumed to have (a new topic has this)
	half_life: float = 6 * 3600.0  # seconds for the baseline to forget half of what it learnt
	linger: float = 1800.0  # seconds at the baseline's level (or silent) before an episode ends
	max_topics: int = 10_000  # topics kept in memory, least recently seen evicted
	max_authors: int = 1000  # authors kept per topic (only those within the window are needed)


@dataclass(frozen=True, slots=True)
class Alert:
	"""A topic started an episode; everything needed to say why."""

	topic: str
	service: str | None
	team: str | None
	episode: str  # "<topic>@<first_at as integer seconds>", stable across replays
	authors: tuple[str, ...]  # distinct authors in the window, oldest first
	first_at: float  # epoch seconds of the first and last of their reports
	last_at: float
	window: float
	baseline: float  # authors per hour, before this burst
	expected: float  # authors the baseline expects in one window
	factor: float
	min_authors: int
	words: tuple[str, ...]  # what matched in the window: aliases or terms, outage phrases

	@property
	def threshold(self) -> float:
		"""The window had to hold at least this many authors (min_authors) and more than factor x expected."""
		return max(float(self.min_authors), self.factor * self.expected)

	def reason(self) -> str:
		start, end = (datetime.fromtimestamp(t, timezone.utc).strftime("%H:%M:%S") for t in (self.first_at, self.last_at))
		what = f"service {self.service}" if self.service else f"unknown topic {self.topic}"
		return (
			f"{len(self.authors)} distinct authors reported {what} down between {start} and {end} UTC (window "
			f"{self.window / 60:g} min); the baseline of {self.baseline:.2f} authors/h expects {self.expected:.2f} "
			f"per window, the alert needs at least {self.min_authors} and more than {self.factor:g} x "
			f"{self.expected:.2f}; words: {', '.join(self.words)}"
		)

	def to_dict(self) -> dict[str, Any]:
		data = asdict(self)
		data["authors"] = list(self.authors)
		data["words"] = list(self.words)
		data["reason"] = self.reason()
		return data


class Joined(NamedTuple):
	"""A report on a topic whose episode is open: attach the post to the episode's incident."""

	topic: str
	episode: str
	author: str
	at: float
	counted: bool  # the author's first report in the window (False: a repeat, or a post too late to count)


class _Topic:
	__slots__ = ("service", "team", "authors", "words", "latest", "rate", "rate_at", "episode", "elevated_at", "peak")

	def __init__(self, service: str | None = None, team: str | None = None):
		self.service, self.team = service, team
		self.authors: dict[str, float] = {}  # author -> time of their counted report, oldest first
		self.words: dict[str, float] = {}  # matched word -> last time
		self.latest = -math.inf  # newest report time seen
		self.rate = 0.0  # baseline, authors per second, as of rate_at
		self.rate_at = 0.0
		self.episode: str | None = None
		self.elevated_at = 0.0  # last time the open episode's window was above factor x the baseline's level
		self.peak = 0  # most distinct authors in the window during the episode


def seconds(at: datetime | float) -> float:
	"""Epoch seconds of a post's time (an aware datetime, or already a number)."""
	return at.timestamp() if isinstance(at, datetime) else float(at)


def author_key(post: SocialPost) -> str:
	"""Who reported: one key per account per network (handles change, ids do not)."""
	return f"{post.network}:{handle_key(post.author_id or post.author_handle or '')}"


class BurstDetector:
	def __init__(self, settings: BurstSettings | None = None, load: Callable[[str], bytes | None] | None = None):
		"""``load(topic)`` returns a topic's saved bytes (or None) the first time this detector meets it."""
		self.settings = settings or BurstSettings()
		self._load = load
		self._tau = self.settings.half_life / math.log(2)
		self._topics: OrderedDict[str, _Topic] = OrderedDict()
		self._dirty: set[str] = set()
		self._evicted: dict[str, bytes] = {}  # unsaved topics pushed out of memory, until changed() hands them over

	def __len__(self) -> int:
		return len(self._topics)

	def __contains__(self, topic: str) -> bool:
		return topic in self._topics

	# ----- the stream -----

	def observe(self, report: OutageReport, author: str, at: datetime | float) -> Alert | Joined | None:
		"""Count one outage report; an Alert when its topic starts an episode, Joined while one is open."""
		t = at if type(at) is float else seconds(at)
		settings = self.settings
		topic = report.topic
		state = self._topics.get(topic)
		if state is None or state.service != report.service:
			state = self._state(topic, report)
		else:
			self._topics.move_to_end(topic)
		self._dirty.add(topic)
		if state.episode is not None and t - state.elevated_at > settings.linger and t > state.latest - settings.window:
			state.episode = None  # it calmed down for linger: this report starts afresh
		if t <= state.latest - settings.window:  # too late to count in any window still open
			return Joined(topic, state.episode, author, t, False) if state.episode else None
		counted = self._count(state, author, t)
		words = state.words
		for word in report.words:
			if words.get(word, -math.inf) < t:
				words[word] = t
		if len(words) > len(report.words) and min(words.values()) <= state.latest - settings.window:
			# forget words older than the window now, as saving would: a reloaded topic then decides the same
			state.words = {w: seen for w, seen in words.items() if seen > state.latest - settings.window}
		hot = settings.factor * self._baseline(state, t) * settings.window / 3600  # before this author is learnt
		if counted:
			self._learn(state, t)
		in_window = len(state.authors)
		if state.episode is not None:
			if in_window > hot:
				state.elevated_at = max(state.elevated_at, t)
			state.peak = max(state.peak, in_window)
			return Joined(topic, state.episode, author, t, counted)
		if counted and in_window >= settings.min_authors and in_window > hot:
			return self._fire(topic, state, hot / settings.factor)
		return None

	def _count(self, state: _Topic, author: str, t: float) -> bool:
		"""Put the author in the window unless they already are there; drop who fell out of it."""
		window = self.settings.window
		authors = state.authors
		previous = authors.get(author)
		if previous is not None and abs(t - previous) < window:
			if t > state.latest:
				state.latest = t
				self._prune(state)
			return False
		if previous is not None:
			del authors[author]
		if t >= state.latest or not authors or t >= next(reversed(authors.values())):
			authors[author] = t
		else:  # out of order: keep the window sorted by time, so pruning from the front is exact
			items = sorted((*authors.items(), (author, t)), key=lambda item: item[1])
			authors.clear()
			authors.update(items)
		state.latest = max(state.latest, t)
		self._prune(state)
		return author in authors

	def _prune(self, state: _Topic) -> None:
		authors = state.authors
		cutoff = state.latest - self.settings.window
		while authors:
			oldest = next(iter(authors))
			if authors[oldest] > cutoff and len(authors) <= self.settings.max_authors:
				break
			del authors[oldest]

	def _fire(self, topic: str, state: _Topic, expected: float) -> Alert:
		settings = self.settings
		times = list(state.authors.values())
		first_at = times[0]
		cutoff = state.latest - settings.window
		state.episode = f"{topic}@{int(first_at)}"
		state.elevated_at = state.latest
		state.peak = len(times)
		return Alert(
			topic=topic, service=state.service, team=state.team, episode=state.episode,
			authors=tuple(state.authors), first_at=first_at, last_at=times[-1], window=settings.window,
			baseline=expected * 3600 / settings.window, expected=expected, factor=settings.factor,
			min_authors=settings.min_authors, words=tuple(w for w, seen in state.words.items() if seen > cutoff),
		)

	# ----- the baseline -----

	def _baseline(self, state: _Topic, t: float) -> float:
		"""Authors per hour the topic usually has at time t (never below the floor)."""
		rate = state.rate
		if rate and t > state.rate_at:
			rate *= math.exp((state.rate_at - t) / self._tau)
		return max(self.settings.floor, rate * 3600)

	def _learn(self, state: _Topic, t: float) -> None:
		"""One more counted author, outside an episode: the exponentially weighted rate takes it in."""
		if t >= state.rate_at:
			state.rate = state.rate * math.exp((state.rate_at - t) / self._tau) + 1 / self._tau
			state.rate_at = t
		else:
			state.rate += math.exp((t - state.rate_at) / self._tau) / self._tau

	def baseline(self, topic: str, at: datetime | float) -> float:
		"""A topic's baseline in authors per hour at ``at`` (the floor for a topic never seen)."""
		state = self._state(topic)
		return self._baseline(state, seconds(at))

	# ----- what agents decide -----

	def dismiss(self, topic: str, at: datetime | float | None = None) -> None:
		"""A false alarm: end the episode and raise the baseline so that twice the dismissed level (its peak
		distinct authors per window) would be needed to fire. It decays by half every half_life, so the same level
		may fire again after about that long."""
		settings = self.settings
		state = self._state(topic)
		t = state.latest if at is None else seconds(at)
		level = max(state.peak if state.episode else 0, len(state.authors), settings.min_authors)
		wanted = 2 * level / settings.factor * 3600 / settings.window  # authors/hour
		if wanted > self._baseline(state, t):
			state.rate, state.rate_at = wanted / 3600, max(t, state.rate_at)
		state.episode = None
		state.peak = 0
		self._dirty.add(topic)

	def close(self, topic: str) -> None:
		"""The incident is resolved: end the episode without learning anything (a report can fire anew)."""
		state = self._topics.get(topic)
		if state is not None and state.episode is not None:
			state.episode = None
			state.peak = 0
			self._dirty.add(topic)

	def episode(self, topic: str) -> str | None:
		"""The open episode's id for a topic in memory, else None."""
		state = self._topics.get(topic)
		return state.episode if state is not None else None

	def calmed(self, at: datetime | float) -> list[str]:
		"""End the episodes (of topics in memory) that have stayed calm for ``linger`` before ``at``;
		returns their ids, for a periodic job to resolve incidents nobody reports any more."""
		t = seconds(at)
		ended = []
		for topic, state in self._topics.items():
			if state.episode is not None and t - state.elevated_at > self.settings.linger:
				ended.append(state.episode)
				state.episode = None
				state.peak = 0
				self._dirty.add(topic)
		return ended

	# ----- state: per topic, compact -----

	def _state(self, topic: str, report: OutageReport | None = None) -> _Topic:
		state = self._topics.get(topic)
		if state is not None:
			self._topics.move_to_end(topic)
		else:
			saved = self._evicted.pop(topic, None)
			if saved is None and self._load is not None:
				saved = self._load(topic)
			state = self._decode(saved) if saved else None
			state = state or _Topic()
			self._topics[topic] = state
			if len(self._topics) > self.settings.max_topics:
				self._evict()
		if report is not None and report.service and state.service is None:
			state.service, state.team = report.service, report.team
		return state

	def _evict(self) -> None:
		topic, state = self._topics.popitem(last=False)
		if topic in self._dirty:
			self._dirty.discard(topic)
			self._evicted[topic] = self._encode(state)

	def dump_topic(self, topic: str) -> bytes | None:
		"""One topic's state as compact bytes (JSON), None when this detector does not hold it."""
		if topic in self._evicted:
			return self._evicted[topic]
		state = self._topics.get(topic)
		return self._encode(state) if state is not None else None

	def load_topic(self, topic: str, data: bytes | str | None) -> None:
		"""Replace a topic's state with saved bytes (malformed or foreign bytes: the topic starts afresh)."""
		self._topics.pop(topic, None)
		self._evicted.pop(topic, None)
		self._dirty.discard(topic)
		state = (self._decode(data) if data else None) or _Topic()
		self._topics[topic] = state
		if len(self._topics) > self.settings.max_topics:
			self._evict()

	def dump(self) -> dict[str, bytes]:
		"""Every topic held, as {topic: bytes}."""
		out = dict(self._evicted)
		out.update((topic, self._encode(state)) for topic, state in self._topics.items())
		return out

	def load(self, states: Mapping[str, bytes | str]) -> None:
		for topic, data in states.items():
			self.load_topic(topic, data)

	def changed(self) -> dict[str, bytes]:
		"""Topics changed since the last call, as {topic: bytes} to save; the detector forgets they changed."""
		out = self._evicted
		self._evicted = {}
		for topic in self._dirty:
			state = self._topics.get(topic)
			if state is not None:
				out[topic] = self._encode(state)
		self._dirty = set()
		return out

	def _encode(self, state: _Topic) -> bytes:
		cutoff = state.latest - self.settings.window
		words = {word: t for word, t in state.words.items() if t > cutoff}
		record = [
			FORMAT, state.service, state.team, None if state.latest == -math.inf else state.latest, state.rate,
			state.rate_at, state.episode, state.elevated_at, state.peak, list(state.authors.items()), list(words.items()),
		]
		return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()

	def _decode(self, data: bytes | str) -> _Topic | None:
		try:
			record = json.loads(data)
			if not isinstance(record, list) or len(record) != 11 or record[0] != FORMAT:
				return None
			_, service, team, latest, rate, rate_at, episode, elevated_at, peak, authors, words = record
			state = _Topic(service, team)
			state.latest = -math.inf if latest is None else float(latest)
			state.rate, state.rate_at = float(rate), float(rate_at)
			state.episode = episode if isinstance(episode, str) else None
			state.elevated_at, state.peak = float(elevated_at), int(peak)
			state.authors = {str(a): float(t) for a, t in authors}
			state.words = {str(w): float(t) for w, t in words}
		except (ValueError, TypeError):
			return None
		self._prune(state)
		return state

	def topics(self) -> Iterable[str]:
		return iter(self._topics)
