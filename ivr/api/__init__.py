"""The HTTP API for agents and supervisors."""
