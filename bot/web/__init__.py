"""The web UI: sign-in, the agent console and the admin pages."""
