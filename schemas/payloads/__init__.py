"""Payload models, one module per family and version."""
