"""Answers going back to the network: queued from the ticket, sent by a job, never twice."""
