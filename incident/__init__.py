"""incident: an incident-response worker for a public body's social-media pages."""

__version__ = "0.1.0"
