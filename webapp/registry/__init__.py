"""The registry: the tree of places, categories and the responsibility matrix, the printed
codes, the scan of a code, the signs and the import of the "one table" (一张表)."""
