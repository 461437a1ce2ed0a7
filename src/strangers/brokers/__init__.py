"""Where shared state lives: in this process (memory) or across nodes (Redis)."""
