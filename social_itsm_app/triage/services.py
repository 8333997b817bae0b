"""The services the desk supports, and which of them a post says are down. Pure Python, no frappe.

A :class:`ServiceCatalogue` compiles every alias of every service into one token trie (a dict by first word,
longest alias first), so matching costs one pass over a post's words whatever the catalogue's size; aliases match
whole words, ignoring case and accents ("GlobalProtect", "globalprotect's", "Wi-Fi" / "wifi" / "wi fi").

:meth:`ServiceCatalogue.reports` turns a post into outage reports, one per topic:

* a known service in the clause of an outage phrase (else anywhere in the post, unless that clause names
  something else) -> topic ``service:<name>``; weak cues ("anyone else", "errors") count only here;
* no known service, a strong outage phrase -> topics ``term:<word>`` for up to two words naming what is down,
  nearest the phrase first ("is teams down?" and "Teams not working for anyone?" both give ``term:teams``),
  so a service nobody catalogued still clusters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from social_itsm_app.triage import outages
from social_itsm_app.triage.normalize import fold, lines

SERVICE_PREFIX, TERM_PREFIX = "service:", "term:"


@dataclass(frozen=True, slots=True)
class Service:
	name: str
	aliases: tuple[str, ...] = ()
	team: str | None = None

	@property
	def topic(self) -> str:
		return SERVICE_PREFIX + self.name

	@classmethod
	def from_record(cls, record: Mapping[str, Any]) -> Service:
		"""From a dict: name (or service_name), aliases (or keywords; one per line or comma separated), team
		(or owner_team). The name itself is always an alias."""
		name = (record.get("name") or record.get("service_name") or "").strip()
		if not name:
			raise ValueError("a service needs a name")
		aliases = lines(record.get("aliases") or record.get("keywords"))
		return cls(name, tuple(dict.fromkeys((name, *aliases))), record.get("team") or record.get("owner_team") or None)


class OutageReport(NamedTuple):
	"""A post says ``topic`` is down; ``words`` are what matched (the alias or term, then the outage phrases)."""

	topic: str
	service: str | None
	team: str | None
	words: tuple[str, ...]


class _Hit(NamedTuple):
	start: int
	end: int
	service: int  # index into the catalogue
	alias: str


class ServiceCatalogue:
	def __init__(self, services: Iterable[Service], ignore: Iterable[str] = ()):
		"""``ignore``: words that never key an unknown topic, such as the desk's own handles and brand ("acme" in
		"@acme zoomly is down"): every complaint is addressed to them, so they would cluster every outage."""
		self.services: tuple[Service, ...] = tuple(services)
		self.ignore = frozenset(
			term for name in ignore for word in outages.tokens(name) for term in [outages.term_key(word)] if term
		)
		self._topics = tuple(s.topic for s in self.services)
		trie: dict[str, list[tuple[tuple[str, ...], int, str]]] = {}
		for number, service in enumerate(self.services):
			for alias in service.aliases:
				for spelled in _spellings(alias):
					first, *rest = spelled
					trie.setdefault(first, []).append((tuple(rest), number, fold(alias)))
		self._trie = {first: tuple(sorted(set(entries), key=lambda e: -len(e[0]))) for first, entries in trie.items()}
		self._first = frozenset(self._trie)

	@classmethod
	def from_records(cls, records: Iterable[Mapping[str, Any]], ignore: Iterable[str] = ()) -> ServiceCatalogue:
		return cls((Service.from_record(record) for record in records), ignore)

	def __len__(self) -> int:
		return len(self.services)

	def services_in(self, text: str) -> tuple[Service, ...]:
		"""Services a post mentions, outage or not, in catalogue order."""
		numbers = {hit.service for hit in self._hits(outages.tokens(text))}
		return tuple(self.services[n] for n in sorted(numbers))

	def reports(self, text: str) -> tuple[OutageReport, ...]:
		"""Outage reports in a post (usually none): one per service said to be down, or per unknown topic."""
		words = outages.tokens(text)
		found = outages.find(words)
		if not found:
			return ()
		return self._reports(words, found)

	def _reports(self, words: list[str], found: list[outages.Found]) -> tuple[OutageReport, ...]:
		hits = self._hits(words)
		if not hits:
			return _unknown(words, found, self.ignore)
		# an alias's own words say nothing ("issue tracker" holds the weak cue "issue")
		found = [f for f in found if not _overlaps(f, hits)]
		if not found:
			return ()
		near = [hit for hit in hits if _near(words, hit, found)]
		if not near:
			# "VPN! still down": no service in the outage's clause, nor anything else named there: the post's
			# service it is. "VPN is fine, the scanner is offline" names the scanner: that is no VPN report.
			if any(outages.salient(words, f, most=1, ignore=self.ignore) for f in found if f.strength == outages.STRONG):
				return _unknown(words, found, self.ignore)
			near = hits
		phrases = (found[0].phrase,) if len(found) == 1 else tuple(dict.fromkeys(f.phrase for f in found))
		if len(near) == 1:
			hit = near[0]
			service = self.services[hit.service]
			return (OutageReport(self._topics[hit.service], service.name, service.team, (hit.alias, *phrases)),)
		out, done = [], set()
		for hit in near:
			if hit.service not in done:
				done.add(hit.service)
				service = self.services[hit.service]
				out.append(OutageReport(self._topics[hit.service], service.name, service.team, (hit.alias, *phrases)))
		return tuple(out)

	def _hits(self, words: list[str]) -> list[_Hit]:
		if self._first.isdisjoint(words):
			return []
		hits: list[_Hit] = []
		after = 0
		first = self._first
		for i in [i for i, word in enumerate(words) if word in first]:
			if i < after:
				continue
			for rest, number, alias in self._trie[words[i]]:
				end = i + 1 + len(rest)
				if not rest or tuple(words[i + 1 : end]) == rest:
					hits.append(_Hit(i, end, number, alias))
					after = end
					break
		return hits


def _overlaps(found: outages.Found, hits: list[_Hit]) -> bool:
	for hit in hits:
		if hit.start < found.end and found.start < hit.end:
			return True
	return False


def _near(words: list[str], hit: _Hit, found: list[outages.Found]) -> bool:
	"""The service is named in the clause of one of the outage phrases."""
	for f in found:
		if hit.end <= f.start:
			if outages.same_clause(words, hit.end, f.start):
				return True
		elif outages.same_clause(words, f.end, hit.start):
			return True
	return False


def _unknown(words: list[str], found: list[outages.Found], ignore: frozenset[str]) -> tuple[OutageReport, ...]:
	"""No known service: one report per word naming what the first strong phrase says is down."""
	strong = [f for f in found if f.strength == outages.STRONG]
	if not strong:
		return ()
	phrases = tuple(dict.fromkeys(f.phrase for f in strong))
	terms = outages.salient(words, strong[0], ignore=ignore)
	return tuple(OutageReport(TERM_PREFIX + term, None, None, (term, *phrases)) for term in terms)


def _spellings(alias: str) -> set[tuple[str, ...]]:
	"""An alias as token tuples: as typed, possessive ("vpn's"), and hyphens joined or split ("wi-fi")."""
	spelled = set()
	base = outages.tokens(alias)
	if not base:
		return spelled
	forms = [base]
	if any("-" in word for word in base):
		forms.append([part for word in base for part in word.split("-")])
		forms.append([word.replace("-", "") for word in base])
	for form in forms:
		spelled.add(tuple(form))
		spelled.add((*form[:-1], form[-1] + "'s"))
	return spelled
