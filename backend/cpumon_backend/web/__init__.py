"""The web dashboard: pages rendered from templates, scripts and styles built by Vite from frontend/."""
