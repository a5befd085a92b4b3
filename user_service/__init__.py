"""Accounts, access tokens, profiles, goals and goal alerts, on PostgreSQL."""
