import { chmod, mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { decryptKeystoreJson, encryptKeystoreJson, isKeystoreJson } from "ethers";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { signingAccount } from "./secp256k1.js";
import type { Hex, LocalAccount } from "viem";
import { ZeroGError } from "./errors.js";

/** Key loading or storage failed: wrong password, malformed file, unsafe permissions. */
export class KeyError extends ZeroGError {
  constructor(
    code: "KEY_MISSING" | "KEY_NOT_FOUND" | "KEY_BAD_PASSWORD" | "KEY_MALFORMED" | "KEY_EXISTS" | "KEY_UNSAFE_PERMISSIONS",
    message: string,
    hint?: string,
  ) {
    super(code, message, hint === undefined ? {} : { hint });
  }
}

/** scrypt cost used for new keystores (ethers' default is 2^17; tests may lower it). */
export interface KeystoreOptions {
  scryptN?: number;
}

const HEX_KEY = /^(0x)?[0-9a-fA-F]{64}$/;

/**
 * Write `privateKey` as an encrypted JSON keystore (Web3 Secret Storage v3, the ethers format) with
 * file mode 0600, atomically. Refuses to overwrite an existing file.
 *
 * @example
 * const { address } = await saveKeystore("~/.0g-compute/keystore.json", generatePrivateKey(), "correct horse");
 */
export async function saveKeystore(
  path: string,
  privateKey: Hex,
  password: string,
  options: KeystoreOptions = {},
): Promise<{ address: Hex }> {
  if (!HEX_KEY.test(privateKey)) throw new KeyError("KEY_MALFORMED", "a private key is 32 bytes of hex");
  if (password.length === 0) throw new KeyError("KEY_BAD_PASSWORD", "an empty password protects nothing", "choose a password");
  if (await exists(path))
    throw new KeyError("KEY_EXISTS", `${path} exists; not overwriting it`, "choose another path or move the old file");
  const account = privateKeyToAccount(normalize(privateKey));
  const json = await encryptKeystoreJson(
    { address: account.address, privateKey: normalize(privateKey) },
    password,
    options.scryptN === undefined ? {} : { scrypt: { N: options.scryptN } },
  );
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, json, { mode: 0o600, flag: "wx" });
  await rename(tmp, path);
  await chmod(path, 0o600);
  return { address: account.address };
}

/** Create a new random key and save it as an encrypted keystore. */
export async function createKeystore(path: string, password: string, options: KeystoreOptions = {}): Promise<{ address: Hex }> {
  return saveKeystore(path, generatePrivateKey(), password, options);
}

/** Decrypt a keystore file into a signing account. Refuses files readable by group or others. */
export async function loadKeystore(path: string, password: string): Promise<LocalAccount> {
  return signingAccount(await loadKeystoreKey(path, password));
}

/** Decrypt a keystore file into its raw private key (for signers that need the key itself, e.g. native ones). */
export async function loadKeystoreKey(path: string, password: string): Promise<Hex> {
  let text: string;
  try {
    const info = await stat(path);
    if (process.platform !== "win32" && (info.mode & 0o077) !== 0) {
      throw new KeyError(
        "KEY_UNSAFE_PERMISSIONS",
        `${path} is readable by other users (mode ${(info.mode & 0o777).toString(8)})`,
        `chmod 600 ${path}`,
      );
    }
    text = await readFile(path, "utf8");
  } catch (err) {
    if (err instanceof KeyError) throw err;
    throw new KeyError("KEY_NOT_FOUND", `cannot read keystore ${path}`, "create one with 0g-compute account create, or import a key");
  }
  if (!isKeystoreJson(text)) throw new KeyError("KEY_MALFORMED", `${path} is not a JSON keystore`);
  try {
    const decrypted = await decryptKeystoreJson(text, password);
    return normalize(decrypted.privateKey as Hex);
  } catch {
    throw new KeyError("KEY_BAD_PASSWORD", "wrong keystore password");
  }
}

/** A signing account from a hex private key held in an environment variable (never written to disk). */
export function accountFromEnv(variable: string, env: NodeJS.ProcessEnv = process.env): LocalAccount {
  return signingAccount(keyFromEnv(variable, env));
}

/** The hex private key held in an environment variable. */
export function keyFromEnv(variable: string, env: NodeJS.ProcessEnv = process.env): Hex {
  const value = env[variable];
  if (!value) throw new KeyError("KEY_NOT_FOUND", `${variable} is not set`);
  if (!HEX_KEY.test(value.trim())) throw new KeyError("KEY_MALFORMED", `${variable} is not a 32-byte hex private key`);
  return normalize(value.trim() as Hex);
}

function normalize(key: Hex): Hex {
  return (key.startsWith("0x") ? key : `0x${key}`) as Hex;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
