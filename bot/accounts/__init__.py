"""People who sign in: agents and admins, their passwords, browser sessions and roles."""
