// Header encoding is base64url(JSON) without padding, byte for byte what Node's Buffer makes, in any
// JavaScript runtime; a header outside the alphabet or not JSON is a WireFormatError.
import { describe, expect, it } from "@jest/globals";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { decodeHeader, encodeHeader, WireFormatError } from "../src/index.js";

const wireModule = join(dirname(fileURLToPath(import.meta.url)), "..", "src", "wire.ts");

describe("header encoding", () => {
  it("matches Node's base64url for every byte pattern and round-trips", () => {
    const values = [{}, { a: "é€😀", n: "123" }, { s: "\u0000\u00ff\uffff" }, { long: "x".repeat(1000) }, [1, 2, 3], "a?", "ab>", "abc~"];
    for (const value of values) {
      const header = encodeHeader(value);
      expect(header).toBe(Buffer.from(JSON.stringify(value), "utf8").toString("base64url"));
      expect(decodeHeader("test", header)).toEqual(value);
    }
  });

  it("encodes the same without Node's encoder, and ignores a Buffer stand-in that lacks base64url", () => {
    // A bundler's Buffer polyfill without base64url: it must not be used (its output would be another text).
    const script = `
      const Real = globalThis.Buffer;
      const refuse = (e) => { if (e === "base64url") throw new Error("polyfill used"); };
      const from = (...args) => {
        refuse(args[1]);
        const b = Real.from(...args);
        const toString = b.toString.bind(b);
        b.toString = (e, ...rest) => (refuse(e), toString(e, ...rest));
        return b;
      };
      const isEncoding = (e) => e !== "base64url" && Real.isEncoding(e);
      globalThis.Buffer = new Proxy(Real, {
        get: (target, key, receiver) => (key === "from" ? from : key === "isEncoding" ? isEncoding : Reflect.get(target, key, receiver)),
      });
      const { encodeHeader, decodeHeader } = await import(${JSON.stringify(wireModule)});
      const h = encodeHeader({ a: "é€😀", n: "123" });
      process.stdout.write(JSON.stringify([h, decodeHeader("test", h)]));
    `;
    const run = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8" });
    expect(run.stderr).toBe("");
    const [header, back] = JSON.parse(run.stdout) as [string, unknown];
    expect(header).toBe(Buffer.from(JSON.stringify({ a: "é€😀", n: "123" }), "utf8").toString("base64url"));
    expect(back).toEqual({ a: "é€😀", n: "123" });
  });

  it("refuses what is not base64url JSON", () => {
    for (const bad of ["e30=", "e3+=", "e3/", "!!", "bm90IGpzb24", "/w", "e30 "]) {
      expect(() => decodeHeader("test", bad)).toThrow(WireFormatError);
    }
    expect(() => decodeHeader("test", "a".repeat(8193))).toThrow(/too long/);
    // A dangling last character (length 4n + 1) is no encoding of anything, even where a decoder would skip it.
    const header = encodeHeader([1, 22]);
    expect(header.length % 4).toBe(0);
    expect(() => decodeHeader("test", `${header}A`)).toThrow(WireFormatError);
  });
});
