"""Shared people services: Social Identities (one per person per network) and their Contacts."""
