"""Test runs and the CPU usage samples they own."""
