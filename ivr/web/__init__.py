"""The agents' and supervisors' web page (docs/web.md)."""
