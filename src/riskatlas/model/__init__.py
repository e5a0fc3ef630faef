"""The canonical model: loss records, geography, hazard taxonomy."""
