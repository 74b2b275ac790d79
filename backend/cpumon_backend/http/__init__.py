"""HTTP plumbing shared by every domain: strict bodies and queries, limits, the deadline, error answers, Allow."""
