"""Examples that the test suite runs."""
