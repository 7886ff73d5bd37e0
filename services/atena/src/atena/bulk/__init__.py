"""Bulk load of the resident-registry extract and batch export."""
