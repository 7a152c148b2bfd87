// Header encoding is base64url(JSON) without padding, byte for byte what Node's Buffer makes, in any
// JavaScript runtime; a header outside the alphabet or not JSON is a WireFormatError.
import { describe, expect, it } from "@jest/globals";
import { decodeHeader, encodeHeader, WireFormatError } from "../src/index.js";

describe("header encoding", () => {
  it("matches Node's base64url for every byte pattern and round-trips", () => {
    const values = [{}, { a: "é€😀", n: "123" }, { s: "\u0000\u00ff\uffff" }, { long: "x".repeat(1000) }, [1, 2, 3], "a?", "ab>", "abc~"];
    for (const value of values) {
      const header = encodeHeader(value);
      expect(header).toBe(Buffer.from(JSON.stringify(value), "utf8").toString("base64url"));
      expect(decodeHeader("test", header)).toEqual(value);
    }
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
