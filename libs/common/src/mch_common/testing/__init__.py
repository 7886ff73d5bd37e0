"""Test support shared by every service: the pytest plugin, JWT test keys, synthetic data."""
