"""Feed-rate model: features, training, evaluation and live recommendations."""
