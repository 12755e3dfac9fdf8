"""The scheduler: named periodic tasks, run in every API process and, with Redis, on a job queue
consumed by ``leadmatch worker`` (docs/scheduling.md)."""
