"""Batch uploads: a CSV uploaded once, matched (or taken in and routed) row by row by workers in
chunks, checkpointed in the database; results.csv and errors.csv downloaded when done
(docs/batches.md)."""
