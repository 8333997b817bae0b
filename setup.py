# Older benches (before pyproject-only apps) still run `pip install -e apps/<app>` through setup.py.
# Everything is declared in pyproject.toml; this shim only hands over to it.
from setuptools import setup

setup()
