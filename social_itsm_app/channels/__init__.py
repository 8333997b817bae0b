"""Shared channel services: a Social Channel's fields as a connector config, and the channel as a live connector.

Used by ingest (fetching), replies (sending) and the api (Test connection); imports only the core (connectors).
"""
