"""The scenarios, in the order of the issue."""
