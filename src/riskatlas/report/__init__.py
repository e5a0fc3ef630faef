"""Reports: an assessment rendered as HTML (and PDF), with the tables behind every figure."""
