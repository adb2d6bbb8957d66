"""backends/ops."""
