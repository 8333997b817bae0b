# in_site/ holds modules the bench's own Python runs against a site (see bench.run_inner); the outer
# pytest, which has no frappe, must not import them or their conftest.
collect_ignore = ["in_site"]
