"""Storage plumbing shared by every domain: column types and engines, conflict retries, the migrations runner."""
