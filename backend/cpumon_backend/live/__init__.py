"""Live updates of a recording run, pushed to browsers as Server-Sent Events."""
