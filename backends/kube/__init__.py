"""backends/kube."""
