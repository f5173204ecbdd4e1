"""Domain operations: plain functions over the models; they flush, the request boundary commits."""
