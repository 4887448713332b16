"""Explaining trained models: feature attributions, attention maps, explanatory subgraphs."""
