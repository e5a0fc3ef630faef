"""Readers: one per input format, all producing canonical records (see ``registry``)."""
