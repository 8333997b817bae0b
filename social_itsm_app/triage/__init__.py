"""Triage: from a fetched post to a decision (queue, convert, ignore, spam), with scores. No frappe import."""

from social_itsm_app.triage.decide import Verdict, triage
from social_itsm_app.triage.rules import Rule, RuleSet
from social_itsm_app.triage.scoring import sentiment, urgency

__all__ = ["Rule", "RuleSet", "Verdict", "sentiment", "triage", "urgency"]
