"""`vendfleet demo`: a small living fleet on embedded defaults, driven through the real paths."""
