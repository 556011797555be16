"""Inactivity consumer: prompt a user who went away, then close the session."""
