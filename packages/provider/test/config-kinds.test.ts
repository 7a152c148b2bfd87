// What a service sells, from the operator's configuration: `0g-provider init --kind/--embedding`, the
// listing's metadata (kind, vector size read from the GGUF, unit) and the backend each kind needs.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { backendOf, ConfigError, listingMetadata, type ProviderConfig, providerConfigSchema } from "../src/config.js";
import { EMBEDDING_TEST_MODEL_DIMENSIONS, writeTestModel } from "../src/test-model/generate.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const cli = join(root, "packages", "provider", "bin", "0g-provider.js");

function config(backend: Record<string, unknown>, service: Record<string, unknown>): ProviderConfig {
  return providerConfigSchema.parse({
    network: { name: "devnet" },
    keys: { provider: { env: "X" }, response: { env: "Y" } },
    server: {},
    backend,
    service: { model: "m", inputPrice: "1", outputPrice: "2", ...service },
  });
}

describe("service kinds in the configuration", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "0g-config-kinds-"));
    await writeTestModel(join(dir, "embed.gguf"), { kind: "embedding", contextLength: 256 });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("lists what the service sells: the vector size from the GGUF header, the unit of a per-unit service", async () => {
    const embed = config({ kind: "llama", modelPath: "embed.gguf" }, { kind: "embedding" });
    expect(JSON.parse(await listingMetadata(embed, dir))).toEqual({ kind: "embedding", dimensions: EMBEDDING_TEST_MODEL_DIMENSIONS });
    const images = config({ kind: "upstream", baseUrl: "http://127.0.0.1:1/v1" }, { kind: "images" });
    expect(JSON.parse(await listingMetadata(images, dir))).toEqual({ kind: "images", unit: "image" });
    const chat = config({ kind: "upstream", baseUrl: "http://127.0.0.1:1/v1", contextLength: 4096 }, {});
    expect(JSON.parse(await listingMetadata(chat, dir))).toEqual({ contextLength: 4096 });
  });

  it("refuses a kind its backend cannot sell", async () => {
    await expect(backendOf(config({ kind: "llama", modelPath: "embed.gguf" }, { kind: "transcription" }), dir)).rejects.toThrow(
      ConfigError,
    );
    await expect(backendOf(config({ kind: "upstream", baseUrl: "http://127.0.0.1:1/v1" }, { kind: "embedding" }), dir)).rejects.toThrow(
      /dimensions/,
    );
  });

  it("0g-provider init writes the kind and the price per unit, and refuses what cannot work", async () => {
    const init = (sub: string, args: string[]) =>
      new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
        const p = spawn(
          process.execPath,
          ["--conditions=@0g-compute/source", "--import", "tsx", cli, "--config", join(dir, sub, "0g-provider.json"), "init", ...args],
          { cwd: root, env: { PATH: process.env.PATH, ZG_PROVIDER_PASSWORD: "test-password" } },
        );
        let stderr = "";
        p.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
        p.once("error", reject);
        p.once("exit", (code) => resolve({ code, stderr }));
      });
    for (const sub of ["a", "b", "c"]) await mkdir(join(dir, sub));
    const ok = await init("a", [
      "--model-id",
      "whisper",
      "--upstream",
      "http://127.0.0.1:1/v1",
      "--kind",
      "transcription",
      "--unit-price",
      "0.0001",
    ]);
    expect(ok.code).toBe(0);
    const written = JSON.parse(await readFile(join(dir, "a", "0g-provider.json"), "utf8")) as ProviderConfig;
    expect(written.service).toMatchObject({ kind: "transcription", inputPrice: "100000000000000", outputPrice: "0" });
    const noUpstream = await init("b", [
      "--model-id",
      "img",
      "--gguf",
      join(dir, "embed.gguf"),
      "--kind",
      "images",
      "--unit-price",
      "0.01",
    ]);
    expect(noUpstream.code).toBe(2);
    expect(noUpstream.stderr).toMatch(/--upstream/);
    const noDimensions = await init("c", ["--model-id", "e", "--upstream", "http://127.0.0.1:1/v1", "--embedding"]);
    expect(noDimensions.code).toBe(2);
    expect(noDimensions.stderr).toMatch(/--dimensions/);
  }, 60_000);
});
