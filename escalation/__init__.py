"""Escalation: when and why a conversation goes to a person."""
