"""Shared core: the MQTT contract, broker connection helpers and the command line."""
