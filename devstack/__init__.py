"""Throwaway PostgreSQL, Redis and MongoDB-compatible servers on free local ports, for
tests and for running the suite on one machine without Docker."""
