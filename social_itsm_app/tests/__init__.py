"""The app's in-site tests: ``bench --site SITE run-tests --app social_itsm_app`` runs every ``test_*.py`` here
against a site (allow_tests set); the repository's ``python -m pytest`` runs them through tests/site on its test
sites. The tests that need no site live in the repository's tests/ folder.
"""
