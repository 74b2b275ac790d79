"""The dashboard's front end (TypeScript, built by Vite); build.py builds it."""
