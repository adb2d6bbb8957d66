"""Signals from outside the cluster: Prometheus, Alertmanager, PromQL and the MQTT team bus."""
