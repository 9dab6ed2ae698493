"""The incident drill behind `make demo`: a real Prometheus and Alertmanager watch the
reference service while faults are injected, and a webhook receiver plays the pager."""
