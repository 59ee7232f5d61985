"""Small tensor operations shared across the package."""
