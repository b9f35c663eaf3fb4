"""Monitor: per-reading checks, alarm lifecycle with explanations, and the MQTT service around them."""
