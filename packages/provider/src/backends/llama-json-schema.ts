// JSON schemas (a response_format's, a tool's parameters) as node-llama-cpp's grammar generator understands
// them, so that generation is constrained as the client meant.
import type { GbnfJsonSchema } from "node-llama-cpp";
import { badRequest } from "../backend.js";

/** Constraints the grammar generator ignores: refused under `strict: true`, dropped (best effort) otherwise. */
const UNENFORCED = new Set([
  "pattern",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "multipleOf",
  "allOf",
  "not",
  "if",
  "then",
  "else",
  "patternProperties",
  "propertyNames",
  "dependentRequired",
  "dependentSchemas",
  "dependencies",
  "contains",
  "minContains",
  "maxContains",
  "uniqueItems",
  "unevaluatedProperties",
  "unevaluatedItems",
]);
const PRIMITIVE_TYPES = ["string", "number", "integer", "boolean", "null"] as const;
const STRING_FORMATS = new Set(["date-time", "time", "date"]);
/** `{}`: any JSON value. */
const ANY_VALUE = { oneOf: [{ type: [...PRIMITIVE_TYPES] }, { type: "object", additionalProperties: true }, { type: "array" }] };

type JsonObject = Record<string, unknown>;
export const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);
const isPrimitive = (v: unknown): boolean => v === null || ["string", "number", "boolean"].includes(typeof v);

/**
 * Converts a client's JSON schema to what node-llama-cpp's grammar generator understands, so that it constrains
 * generation as the client meant: `anyOf` becomes `oneOf` (the generator would otherwise silently produce `null`),
 * type lists with objects or arrays become alternatives, `definitions` become `$defs`, and `{}` means any value.
 * Unknown types and dangling references are refused (400); constraints the generator cannot enforce are refused
 * under `strict: true` and dropped otherwise; annotations and unknown keywords are dropped.
 */
export function toGbnfSchema(schema: unknown, strict: boolean, where: string): GbnfJsonSchema {
  const root = isObject(schema) ? schema : {};
  const rawDefs = new Map<string, unknown>();
  const collectDefs = (s: JsonObject) => {
    for (const key of ["$defs", "definitions"]) {
      const defs = s[key];
      if (isObject(defs)) for (const [name, def] of Object.entries(defs)) if (!rawDefs.has(name)) rawDefs.set(name, def);
    }
  };
  collectDefs(root);
  const defs: Record<string, unknown> = {};
  const converting = new Set<string>();

  const convert = (s: unknown, path: string): JsonObject => {
    if (s === true) return ANY_VALUE;
    if (!isObject(s)) throw badRequest(`${path}: not a JSON schema`);
    collectDefs(s);
    const out: JsonObject = typeof s.description === "string" ? { description: s.description } : {};
    for (const key of Object.keys(s)) {
      if (UNENFORCED.has(key) && strict) throw badRequest(`${path}: "${key}" cannot be enforced by the embedded llama backend`);
    }
    if (typeof s.$ref === "string") {
      const name = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(s.$ref)?.[1];
      if (name === undefined || !rawDefs.has(name)) throw badRequest(`${path}: unresolved $ref ${s.$ref}`);
      if (!(name in defs) && !converting.has(name)) {
        converting.add(name);
        defs[name] = convert(rawDefs.get(name), `${path}.$defs.${name}`);
      }
      return { ...out, $ref: `#/$defs/${name}` };
    }
    if ("const" in s) {
      if (!isPrimitive(s.const)) throw badRequest(`${path}: const must be a string, number, boolean or null here`);
      return { ...out, const: s.const };
    }
    if (Array.isArray(s.enum)) {
      if (s.enum.length === 0 || !s.enum.every(isPrimitive)) throw badRequest(`${path}: enum must list strings, numbers, booleans or null`);
      return { ...out, enum: s.enum };
    }
    const alternatives = Array.isArray(s.anyOf) ? s.anyOf : Array.isArray(s.oneOf) ? s.oneOf : undefined;
    if (alternatives) {
      if (alternatives.length === 0) throw badRequest(`${path}: empty anyOf/oneOf`);
      return { ...out, oneOf: alternatives.map((a, i) => convert(a, `${path}.anyOf[${i}]`)) };
    }
    let types: unknown[];
    if (s.type === undefined) {
      if (isObject(s.properties) || "additionalProperties" in s || "required" in s) types = ["object"];
      else if ("items" in s || "prefixItems" in s) types = ["array"];
      else return { ...ANY_VALUE, ...out };
    } else types = Array.isArray(s.type) ? s.type : [s.type];
    for (const t of types) {
      if (typeof t !== "string" || ![...PRIMITIVE_TYPES, "object", "array"].includes(t))
        throw badRequest(`${path}: unknown type ${JSON.stringify(t)}`);
    }
    if (types.length === 0) throw badRequest(`${path}: empty type list`);
    const plain = types.every((t) => t !== "object" && t !== "array" && t !== "string");
    if (types.length > 1 && plain) return { ...out, type: types };
    if (types.length > 1) return { ...out, oneOf: types.map((t) => single(s, t as string, path)) };
    return { ...out, ...single(s, types[0] as string, path) };
  };

  const single = (s: JsonObject, type: string, path: string): JsonObject => {
    const description = typeof s.description === "string" ? { description: s.description } : {};
    const num = (key: string) => (typeof s[key] === "number" ? { [key]: s[key] } : {});
    switch (type) {
      case "string":
        if (typeof s.format === "string" && STRING_FORMATS.has(s.format)) return { ...description, type, format: s.format };
        return { ...description, type, ...num("minLength"), ...num("maxLength") };
      case "object": {
        const properties: JsonObject = {};
        if (isObject(s.properties))
          for (const [k, v] of Object.entries(s.properties)) properties[k] = convert(v, `${path}.properties.${k}`);
        const required = Array.isArray(s.required) ? s.required.filter((k): k is string => typeof k === "string") : [];
        const missing = required.filter((k) => !(k in properties));
        if (missing.length > 0 && strict) throw badRequest(`${path}: required ${missing.join(", ")} without a schema`);
        // An object without properties is any object (the generator would only allow `{}`).
        const additional = s.additionalProperties ?? (Object.keys(properties).length === 0 ? true : undefined);
        return {
          ...description,
          type,
          ...(Object.keys(properties).length > 0 ? { properties } : {}),
          ...(required.length > missing.length ? { required: required.filter((k) => k in properties) } : {}),
          ...(typeof additional === "boolean"
            ? { additionalProperties: additional }
            : additional !== undefined
              ? { additionalProperties: convert(additional, `${path}.additionalProperties`) }
              : {}),
          ...num("minProperties"),
          ...num("maxProperties"),
        };
      }
      case "array": {
        const tuple = Array.isArray(s.prefixItems) ? s.prefixItems : Array.isArray(s.items) ? s.items : undefined;
        const items = Array.isArray(s.items) ? s.additionalItems : s.items;
        // `items: false` after a tuple: nothing beyond it.
        const closed =
          items === false
            ? { maxItems: Math.min(tuple?.length ?? 0, typeof s.maxItems === "number" ? s.maxItems : Infinity) }
            : num("maxItems");
        return {
          ...description,
          type,
          ...(tuple ? { prefixItems: tuple.map((t, i) => convert(t, `${path}.prefixItems[${i}]`)) } : {}),
          ...(items === undefined || items === true || items === false ? {} : { items: convert(items, `${path}.items`) }),
          ...num("minItems"),
          ...closed,
        };
      }
      default:
        return { ...description, type };
    }
  };

  const converted = convert(schema, where);
  return (Object.keys(defs).length > 0 ? { ...converted, $defs: defs } : converted) as unknown as GbnfJsonSchema;
}
