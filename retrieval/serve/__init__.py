"""Serve: knowledge bases, the engine pool that keeps their indexes in memory, and the refresh schedule."""
