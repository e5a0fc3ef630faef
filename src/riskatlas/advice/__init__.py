"""Advice: the measure catalogue, the case library and (later) the recommendations."""
