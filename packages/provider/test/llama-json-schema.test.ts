// A client's JSON schema as node-llama-cpp's grammar generator understands it: what is rewritten, what is
// refused (400, before anything is reserved) and what is dropped; and the result, compiled by node-llama-cpp
// into a real grammar, accepts what the client's schema accepts and refuses what it refuses.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { getLlama, LlamaLogLevel, type GbnfJsonSchema, type Llama } from "node-llama-cpp";
import { BackendError } from "../src/backend.js";
import { toGbnfSchema } from "../src/backends/llama-json-schema.js";

const convert = (schema: unknown, strict = false) => toGbnfSchema(schema, strict, "schema") as unknown as Record<string, unknown>;
const refused = (schema: unknown, strict = false) => {
  try {
    convert(schema, strict);
  } catch (err) {
    expect(err).toBeInstanceOf(BackendError);
    expect((err as BackendError).status).toBe(400);
    return (err as Error).message;
  }
  throw new Error("accepted");
};

describe("JSON schema to grammar schema", () => {
  it("rewrites anyOf as oneOf, and type lists with objects or strings as alternatives", () => {
    expect(convert({ anyOf: [{ type: "string" }, { type: "null" }] })).toEqual({ oneOf: [{ type: "string" }, { type: "null" }] });
    expect(convert({ type: ["number", "null"] })).toEqual({ type: ["number", "null"] });
    expect(convert({ type: ["string", "null"] })).toEqual({ oneOf: [{ type: "string" }, { type: "null" }] });
    expect(convert({ type: ["object", "null"], properties: { a: { type: "integer" } } })).toEqual({
      oneOf: [{ type: "object", properties: { a: { type: "integer" } } }, { type: "null" }],
    });
  });

  it("moves definitions to $defs and rewrites references to them, recursion included", () => {
    const out = convert({
      type: "object",
      properties: { node: { $ref: "#/definitions/Node" } },
      definitions: { Node: { type: "object", properties: { next: { $ref: "#/definitions/Node" } } } },
    });
    expect(out.properties).toEqual({ node: { $ref: "#/$defs/Node" } });
    expect(out.$defs).toEqual({ Node: { type: "object", properties: { next: { $ref: "#/$defs/Node" } } } });
    expect(refused({ $ref: "#/$defs/Missing" })).toMatch(/unresolved \$ref/);
    expect(refused({ $ref: "https://example.org/schema" })).toMatch(/unresolved \$ref/);
  });

  it("reads {} and true as any value and an object without properties as any object", () => {
    expect(convert({}).oneOf).toHaveLength(3);
    expect(convert({ type: "object", properties: { x: true } }).properties).toEqual({ x: convert({}) });
    expect(convert({ type: "object" })).toEqual({ type: "object", additionalProperties: true });
    expect(convert({ type: "object", properties: { a: { type: "string" } } })).toEqual({
      type: "object",
      properties: { a: { type: "string" } },
    });
  });

  it("refuses what it cannot mean: unknown types, empty lists, non-primitive enums and consts", () => {
    expect(refused({ type: "date" })).toMatch(/unknown type "date"/);
    expect(refused({ type: [] })).toMatch(/empty type list/);
    expect(refused({ anyOf: [] })).toMatch(/empty anyOf/);
    expect(refused({ enum: [] })).toMatch(/enum/);
    expect(refused({ enum: [{ a: 1 }] })).toMatch(/enum/);
    expect(refused({ const: [1] })).toMatch(/const/);
    expect(refused("string")).toMatch(/not a JSON schema/);
    expect(refused({ type: "object", properties: { a: 5 } })).toMatch(/schema\.properties\.a: not a JSON schema/);
  });

  it("refuses unenforceable constraints under strict and drops them otherwise", () => {
    expect(refused({ type: "string", pattern: "^a+$" }, true)).toMatch(/"pattern" cannot be enforced/);
    expect(refused({ type: "integer", minimum: 3 }, true)).toMatch(/"minimum"/);
    expect(convert({ type: "string", pattern: "^a+$" })).toEqual({ type: "string" });
    expect(refused({ type: "object", properties: {}, required: ["a"] }, true)).toMatch(/required a without a schema/);
    expect(convert({ type: "object", properties: { b: { type: "string" } }, required: ["a", "b"] })).toMatchObject({ required: ["b"] });
  });

  it("keeps the bounds and formats the generator enforces", () => {
    expect(convert({ type: "string", minLength: 2, maxLength: 5, description: "d" })).toEqual({
      type: "string",
      minLength: 2,
      maxLength: 5,
      description: "d",
    });
    expect(convert({ type: "string", format: "date-time" })).toEqual({ type: "string", format: "date-time" });
    expect(convert({ type: "string", format: "email" })).toEqual({ type: "string" });
    expect(convert({ type: "array", items: { type: "boolean" }, minItems: 1, maxItems: 3 })).toEqual({
      type: "array",
      items: { type: "boolean" },
      minItems: 1,
      maxItems: 3,
    });
    // A closed tuple: nothing after its items.
    expect(convert({ type: "array", prefixItems: [{ type: "string" }, { type: "number" }], items: false })).toEqual({
      type: "array",
      prefixItems: [{ type: "string" }, { type: "number" }],
      maxItems: 2,
    });
  });

  describe("compiled by node-llama-cpp", () => {
    let llama: Llama;
    beforeAll(async () => {
      llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
    });
    afterAll(async () => {
      await llama.dispose();
    });
    // Typed loosely, as in the backend: the schema is the client's, reduced to node-llama-cpp's subset.
    const grammar = (schema: unknown) => {
      const fromSchema = llama.createGrammarForJsonSchema.bind(llama) as (s: GbnfJsonSchema) => Promise<{ parse(json: string): unknown }>;
      return fromSchema(toGbnfSchema(schema, false, "schema"));
    };
    const accepts = async (schema: unknown, text: string) => {
      try {
        (await grammar(schema)).parse(text);
        return true;
      } catch {
        return false;
      }
    };

    it("accepts what the client's schema accepts and refuses the rest", async () => {
      const nullable = { type: "object", properties: { name: { anyOf: [{ type: "string" }, { type: "null" }] } }, required: ["name"] };
      expect(await accepts(nullable, '{"name": null}')).toBe(true);
      expect(await accepts(nullable, '{"name": "x"}')).toBe(true);
      expect(await accepts(nullable, '{"name": 3}')).toBe(false);
      const tree = {
        type: "object",
        properties: { value: { type: "integer" }, children: { type: "array", items: { $ref: "#/definitions/T" } } },
        required: ["value"],
        definitions: { T: { type: "object", properties: { value: { type: "integer" } }, required: ["value"] } },
      };
      expect(await accepts(tree, '{"value": 1, "children": [{"value": 2}]}')).toBe(true);
      expect(await accepts(tree, '{"value": 1, "children": [{"value": "two"}]}')).toBe(false);
      const anyObject = { type: "object", properties: { meta: { type: "object" } }, required: ["meta"] };
      expect(await accepts(anyObject, '{"meta": {"k": [1, "v"]}}')).toBe(true);
    });
  });
});
