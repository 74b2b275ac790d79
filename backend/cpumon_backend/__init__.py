"""The cpumon API server (Litestar + advanced-alchemy)."""
