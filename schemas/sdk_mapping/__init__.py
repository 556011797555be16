"""Build wire dicts straight from SDK objects: attribute reads, no validation."""
