import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  build: { target: "es2022", sourcemap: false },
  server: {
    proxy: {
      "/graphql": "http://127.0.0.1:8080",
      "/auth": "http://127.0.0.1:8080",
      "/login": "http://127.0.0.1:8080",
      "/logout": "http://127.0.0.1:8080",
    },
  },
  test: { include: ["src/**/*.test.{ts,tsx}"], environment: "node" },
});
