"""Events on runs: short time-stamped notes ("deployed v2", "users 10 -> 50") a run keeps beside its samples."""
