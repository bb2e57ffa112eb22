"""Simulators of the demo world's systems: real-shaped APIs served on loopback from ``monitor.demo.state``."""
