"""Small in-memory fakes for fast logic tests (every capability also has a test on the real part)."""
