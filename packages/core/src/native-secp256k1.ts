import { createRequire } from "node:module";
import { setSecp256k1Backend, type Secp256k1Backend } from "./secp256k1.js";

interface Secp256k1Binding {
  ecdsaSign(message: Uint8Array, privateKey: Uint8Array): { signature: Uint8Array; recid: number };
  ecdsaRecover(signature: Uint8Array, recid: number, message: Uint8Array, compressed: boolean): Uint8Array;
}

/**
 * libsecp256k1 through the `secp256k1` package's prebuilt Node.js binding (no compiler needed where a
 * prebuild exists: Linux x64, macOS arm64, Windows x64; elsewhere npm builds it if it can). Where the
 * binding cannot load, viem's JavaScript stays in use.
 */
function loadNative(): Secp256k1Backend | undefined {
  try {
    // The binding itself, not the package's root, which falls back to a slow JavaScript curve silently.
    const binding = createRequire(import.meta.url)("secp256k1/bindings") as Secp256k1Binding;
    return {
      name: "native",
      sign: (digest, privateKey) => binding.ecdsaSign(digest, privateKey),
      recoverPublicKey: (digest, signature, recid) => binding.ecdsaRecover(signature, recid, digest, false),
    };
  } catch {
    return undefined;
  }
}

/** The native backend, installed for the whole SDK when this module (part of the Node.js entry) loads. */
export const nativeSecp256k1: Secp256k1Backend | undefined = loadNative();
if (nativeSecp256k1) setSecp256k1Backend(nativeSecp256k1);
