"""Media fixtures (owned by the media layer's tests)."""
