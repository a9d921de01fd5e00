"""HTTP plumbing shared by every JSON endpoint: errors, body parsing, OpenAPI, auth."""
