# Thin setuptools shim: all packaging metadata lives in pyproject.toml (nbdev 3 keeps its config there too).
# It exists so that tools which still call `python setup.py ...` or `pip install -e .` on old pips keep working.
from setuptools import setup

setup()
