"""backends/demo."""
