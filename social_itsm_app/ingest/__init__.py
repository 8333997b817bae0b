"""Frappe side of intake: scheduled fetches, storing posts in batches, identities, channel health."""
