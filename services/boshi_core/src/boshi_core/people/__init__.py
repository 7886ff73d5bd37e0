"""The local read model of the people boshi_core serves, kept current from atena's events."""
