"""Domain state in Redis: one store per concept, its Lua scripts beside it."""
