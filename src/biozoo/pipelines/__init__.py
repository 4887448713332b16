"""Side pipelines with their own loop, outside the encoder-fusion-head run (link prediction)."""
