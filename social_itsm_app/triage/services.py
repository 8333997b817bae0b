"""The services the desk supports, and which of them a post says are down. Pure Python, no frappe.

A :class:`ServiceCatalogue` compiles every alias of every service into one token trie (a dict by first word,
longest alias first), so matching costs one pass over a post's words whatever the catalogue's size; aliases match
whole words, ignoring case and accents ("GlobalProtect", "globalprotect's", "Wi-Fi" / "wifi" / "wi fi").

:meth:`ServiceCatalogue.reports` turns a post into outage reports, one per topic:

* a known service in the clause of an outage phrase (else anywhere in the post) -> topic ``service:<name>``;
  weak cues ("anyone else", "errors") count only here;
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
	def __init__(self, services: Iterable[Service]):
		self.services: tuple[Service, ...] = tuple(services)
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
	def from_records(cls, records: Iterable[Mapping[str, Any]]) -> ServiceCatalogue:
		return cls(Service.from_record(record) for record in records)

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
		phrases = tuple(dict.fromkeys(f.phrase for f in found))
		hits = self._hits(words)
		if hits:
			near = [hit for hit in hits if any(_same_clause(words, hit, f) for f in found)] or hits
			by_service = dict.fromkeys(hit.service for hit in near)
			out = []
			for number in by_service:
				service = self.services[number]
				alias = next(hit.alias for hit in near if hit.service == number)
				out.append(OutageReport(self._topics[number], service.name, service.team, (alias, *phrases)))
			return tuple(out)
		strong = [f for f in found if f.strength == outages.STRONG]
		if not strong:
			return ()
		strong_phrases = tuple(dict.fromkeys(f.phrase for f in strong))
		terms = outages.salient(words, strong[0])
		return tuple(OutageReport(TERM_PREFIX + term, None, None, (term, *strong_phrases)) for term in terms)

	def _hits(self, words: list[str]) -> list[_Hit]:
		if self._first.isdisjoint(words):
			return []
		hits, i, n = [], 0, len(words)
		while i < n:
			entries = self._trie.get(words[i])
			if entries is not None:
				for rest, number, alias in entries:
					end = i + 1 + len(rest)
					if not rest or tuple(words[i + 1 : end]) == rest:
						hits.append(_Hit(i, end, number, alias))
						i = end - 1
						break
			i += 1
		return hits


def _same_clause(words: list[str], hit: _Hit, found: outages.Found) -> bool:
	low, high = (hit.end, found.start) if hit.end <= found.start else (found.end, hit.start)
	return not any(outages.is_break(word) for word in words[low:high])


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
