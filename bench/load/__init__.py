"""The load generator's parts; the command and its entry points are ``bench/loadtest.py``."""
