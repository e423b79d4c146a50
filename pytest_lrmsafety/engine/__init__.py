"""The generation engine: planned concurrent generation, the cache, record and replay."""
