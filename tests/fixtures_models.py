"""Model fixtures (owned by the model layer's tests)."""
