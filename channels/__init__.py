"""Channel adapters: one module per channel, inbound normalise and outbound send."""
