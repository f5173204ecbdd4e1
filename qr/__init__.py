"""Building codes, their URLs, QR images and printable sign sheets (a pure library)."""
