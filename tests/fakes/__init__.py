"""Local fake network servers for tests (loopback only, pure Python, no frappe)."""
