// Bundles the browser test page (test/browser/page) with core's browser entry, as a web app would: no
// Node.js polyfills, and any Node.js module reached from the page fails the build.
import { builtinModules } from "node:module";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

const nodeModules = new Set(builtinModules);

/** Fails the build on any import of a Node.js module (`node:fs`, `fs`, `crypto`...). */
const noNodeModules: Plugin = {
  name: "no-node-modules",
  enforce: "pre",
  resolveId(id, importer) {
    if (id.startsWith("node:") || nodeModules.has(id)) this.error(`${importer ?? "the page"} imports the Node.js module ${id}`);
    return null;
  },
};

export default defineConfig({
  root: fileURLToPath(new URL("./page", import.meta.url)),
  logLevel: "warn",
  plugins: [noNodeModules],
  // The workspace packages' TypeScript sources, as the tests use them.
  resolve: { conditions: ["@0g-compute/source", "browser", "module", "import", "default"] },
  build: { emptyOutDir: true, target: "es2022", reportCompressedSize: false },
});
