"""Frappe side of intake: the every-minute tick, the per-channel fetch job, batch storage, channel health."""
