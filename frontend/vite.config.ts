import { defineConfig } from "vite";

// One entry; the server reads .vite/manifest.json to link the hashed files from its templates.
export default defineConfig({
  base: "/static/",
  publicDir: false,
  build: {
    outDir: "../backend/cpumon_backend/web/static",
    emptyOutDir: true,
    manifest: true,
    assetsInlineLimit: 0, // no data: URLs beyond what the CSP allows for images
    rollupOptions: { input: "src/main.ts" },
  },
});
