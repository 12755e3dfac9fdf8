"""Batch uploads, the pure parts: reading what people upload (columns) and writing the answers (output)."""
