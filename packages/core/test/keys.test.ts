import { describe, expect, it } from "@jest/globals";
import { chmod, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { accountFromEnv, createKeystore, KeyError, loadKeystore, saveKeystore } from "../src/index.js";

const FAST = { scryptN: 1024 };

describe("keys", () => {
  it("writes an encrypted keystore with mode 0600 and never the key in plaintext", async () => {
    const dir = await mkdtemp(join(tmpdir(), "0g-keys-"));
    try {
      const key = generatePrivateKey();
      const path = join(dir, "nested", "keystore.json");
      const { address } = await saveKeystore(path, key, "pw", FAST);
      expect(address).toBe(privateKeyToAccount(key).address);
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      const text = await readFile(path, "utf8");
      expect(text).not.toContain(key.slice(2));
      expect((await loadKeystore(path, "pw")).address).toBe(address);
      await expect(loadKeystore(path, "wrong")).rejects.toMatchObject({ code: "KEY_BAD_PASSWORD" });
      await expect(saveKeystore(path, key, "pw", FAST)).rejects.toMatchObject({ code: "KEY_EXISTS" });
      await chmod(path, 0o644);
      await expect(loadKeystore(path, "pw")).rejects.toMatchObject({ code: "KEY_UNSAFE_PERMISSIONS" });
      await expect(loadKeystore(join(dir, "missing.json"), "pw")).rejects.toMatchObject({ code: "KEY_NOT_FOUND" });
      const created = await createKeystore(join(dir, "new.json"), "pw2", FAST);
      expect((await loadKeystore(join(dir, "new.json"), "pw2")).address).toBe(created.address);
      await expect(createKeystore(join(dir, "empty.json"), "", FAST)).rejects.toBeInstanceOf(KeyError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("reads a key from the environment and rejects malformed ones", () => {
    const key = generatePrivateKey();
    expect(accountFromEnv("K", { K: key }).address).toBe(privateKeyToAccount(key).address);
    expect(accountFromEnv("K", { K: key.slice(2) }).address).toBe(privateKeyToAccount(key).address);
    expect(() => accountFromEnv("K", {})).toThrow(/not set/);
    expect(() => accountFromEnv("K", { K: "0x1234" })).toThrow(KeyError);
  });
});
