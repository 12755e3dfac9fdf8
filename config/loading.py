"""How a rules file is laid over the shipped defaults: tables merge, lists and values replace."""
from __future__ import annotations


def merge_tables(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_tables(out[key], value)
        else:
            out[key] = value
    return out
