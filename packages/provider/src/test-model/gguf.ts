/**
 * A minimal GGUF (version 3) writer: typed metadata key/values and F32 tensors.
 *
 * Layout of a GGUF v3 file (all integers little-endian):
 *   magic "GGUF" | version u32 = 3 | tensor count u64 | metadata count u64
 *   metadata: key (string) | value type u32 | value
 *   tensor infos: name (string) | n_dims u32 | dims u64[n_dims] (ne0, the fastest-varying dimension, first)
 *                 | ggml type u32 | data offset u64 (relative to the start of the data section, aligned)
 *   padding to the alignment, then the tensor data, each tensor starting on an aligned offset.
 * A string is a u64 byte length followed by UTF-8 bytes (no terminator).
 *
 * Only what the test-model generator needs is supported: scalar u32/i32/f32/bool/string/u64 values,
 * arrays of strings, f32 and i32, and F32 tensors.
 */

/** GGUF metadata value type ids (gguf_type in ggml). */
const GgufType = { UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9, UINT64: 10 } as const;

/** ggml tensor type id for 32-bit floats. */
const GGML_TYPE_F32 = 0;

/** The default alignment of the data section and of every tensor (the `general.alignment` default). */
const GGUF_ALIGNMENT = 32;

/** A typed metadata value. Build one with the helpers below ({@link u32}, {@link str}, ...). */
export type GgufMetadataValue =
  | { readonly type: "uint32"; readonly value: number }
  | { readonly type: "int32"; readonly value: number }
  | { readonly type: "float32"; readonly value: number }
  | { readonly type: "bool"; readonly value: boolean }
  | { readonly type: "string"; readonly value: string }
  | { readonly type: "uint64"; readonly value: bigint }
  | { readonly type: "stringArray"; readonly value: readonly string[] }
  | { readonly type: "float32Array"; readonly value: ArrayLike<number> }
  | { readonly type: "int32Array"; readonly value: ArrayLike<number> };

export const u32 = (value: number): GgufMetadataValue => ({ type: "uint32", value });
export const f32 = (value: number): GgufMetadataValue => ({ type: "float32", value });
export const bool = (value: boolean): GgufMetadataValue => ({ type: "bool", value });
export const str = (value: string): GgufMetadataValue => ({ type: "string", value });
export const strArray = (value: readonly string[]): GgufMetadataValue => ({ type: "stringArray", value });
export const f32Array = (value: ArrayLike<number>): GgufMetadataValue => ({ type: "float32Array", value });
export const i32Array = (value: ArrayLike<number>): GgufMetadataValue => ({ type: "int32Array", value });

/** An F32 tensor. `dims` lists ne0 (the contiguous dimension) first, as GGUF does. */
export interface GgufTensor {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

/** Everything that goes into a GGUF file; metadata entries are written in the given order. */
export interface GgufContent {
  readonly metadata: ReadonlyArray<readonly [key: string, value: GgufMetadataValue]>;
  readonly tensors: readonly GgufTensor[];
}

const align = (n: number, alignment: number): number => Math.ceil(n / alignment) * alignment;

/** Sequential little-endian writer over a preallocated buffer. */
class ByteWriter {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  offset = 0;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }

  u32(v: number): void {
    this.view.setUint32(this.offset, v, true);
    this.offset += 4;
  }
  i32(v: number): void {
    this.view.setInt32(this.offset, v, true);
    this.offset += 4;
  }
  f32(v: number): void {
    this.view.setFloat32(this.offset, v, true);
    this.offset += 4;
  }
  u64(v: bigint | number): void {
    this.view.setBigUint64(this.offset, BigInt(v), true);
    this.offset += 8;
  }
  u8(v: number): void {
    this.view.setUint8(this.offset, v);
    this.offset += 1;
  }
  raw(bytes: Uint8Array): void {
    this.bytes.set(bytes, this.offset);
    this.offset += bytes.length;
  }
  string(encoded: Uint8Array): void {
    this.u64(encoded.length);
    this.raw(encoded);
  }
  padTo(alignment: number): void {
    this.offset = align(this.offset, alignment); // the buffer is zero-filled already
  }
}

const utf8 = new TextEncoder();

/** Size in bytes of a metadata value's payload (without its type id). */
function valueSize(value: GgufMetadataValue, strings: Map<string, Uint8Array>): number {
  const enc = (s: string): Uint8Array => {
    let e = strings.get(s);
    if (e === undefined) {
      e = utf8.encode(s);
      strings.set(s, e);
    }
    return e;
  };
  switch (value.type) {
    case "uint32":
    case "int32":
    case "float32":
      return 4;
    case "bool":
      return 1;
    case "uint64":
      return 8;
    case "string":
      return 8 + enc(value.value).length;
    case "stringArray":
      return 4 + 8 + value.value.reduce((n, s) => n + 8 + enc(s).length, 0);
    case "float32Array":
    case "int32Array":
      return 4 + 8 + 4 * value.value.length;
  }
}

function writeValue(w: ByteWriter, value: GgufMetadataValue, strings: Map<string, Uint8Array>): void {
  const enc = (s: string): Uint8Array => strings.get(s) ?? utf8.encode(s);
  switch (value.type) {
    case "uint32":
      w.u32(GgufType.UINT32);
      w.u32(value.value);
      return;
    case "int32":
      w.u32(GgufType.INT32);
      w.i32(value.value);
      return;
    case "float32":
      w.u32(GgufType.FLOAT32);
      w.f32(value.value);
      return;
    case "bool":
      w.u32(GgufType.BOOL);
      w.u8(value.value ? 1 : 0);
      return;
    case "uint64":
      w.u32(GgufType.UINT64);
      w.u64(value.value);
      return;
    case "string":
      w.u32(GgufType.STRING);
      w.string(enc(value.value));
      return;
    case "stringArray":
      w.u32(GgufType.ARRAY);
      w.u32(GgufType.STRING);
      w.u64(value.value.length);
      for (const s of value.value) w.string(enc(s));
      return;
    case "float32Array":
      w.u32(GgufType.ARRAY);
      w.u32(GgufType.FLOAT32);
      w.u64(value.value.length);
      for (let i = 0; i < value.value.length; i++) w.f32(value.value[i] ?? 0);
      return;
    case "int32Array":
      w.u32(GgufType.ARRAY);
      w.u32(GgufType.INT32);
      w.u64(value.value.length);
      for (let i = 0; i < value.value.length; i++) w.i32(value.value[i] ?? 0);
      return;
  }
}

/** Raw little-endian bytes of a Float32Array (copied through a DataView on big-endian hosts). */
function float32Bytes(data: Float32Array): Uint8Array {
  const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  if (littleEndianHost) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i]!, true);
  return out;
}

/** Serializes metadata and tensors into a complete GGUF v3 file image. */
export function encodeGguf(content: GgufContent): Uint8Array {
  const strings = new Map<string, Uint8Array>();
  const keys = content.metadata.map(([key]) => utf8.encode(key));
  const names = content.tensors.map((t) => utf8.encode(t.name));
  const seen = new Set<string>();
  for (const t of content.tensors) {
    if (seen.has(t.name)) throw new Error(`duplicate tensor ${t.name}`);
    seen.add(t.name);
    const elements = t.dims.reduce((a, b) => a * b, 1);
    if (elements !== t.data.length) throw new Error(`tensor ${t.name}: dims ${t.dims.join("x")} do not match ${t.data.length} values`);
  }

  // Header and metadata sizes, then tensor infos, then the aligned data section.
  let headerSize = 4 + 4 + 8 + 8;
  content.metadata.forEach(([, value], i) => {
    headerSize += 8 + (keys[i]?.length ?? 0) + 4 + valueSize(value, strings);
  });
  content.tensors.forEach((t, i) => {
    headerSize += 8 + (names[i]?.length ?? 0) + 4 + 8 * t.dims.length + 4 + 8;
  });
  const dataStart = align(headerSize, GGUF_ALIGNMENT);
  const offsets: number[] = [];
  let dataSize = 0;
  for (const t of content.tensors) {
    dataSize = align(dataSize, GGUF_ALIGNMENT);
    offsets.push(dataSize);
    dataSize += t.data.byteLength;
  }

  const w = new ByteWriter(dataStart + align(dataSize, GGUF_ALIGNMENT));
  w.raw(utf8.encode("GGUF"));
  w.u32(3);
  w.u64(content.tensors.length);
  w.u64(content.metadata.length);
  content.metadata.forEach(([, value], i) => {
    w.string(keys[i] ?? new Uint8Array());
    writeValue(w, value, strings);
  });
  content.tensors.forEach((t, i) => {
    w.string(names[i] ?? new Uint8Array());
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(GGML_TYPE_F32);
    w.u64(offsets[i] ?? 0);
  });
  if (w.offset !== headerSize) throw new Error(`GGUF header size mismatch: ${w.offset} != ${headerSize}`);
  w.padTo(GGUF_ALIGNMENT);
  content.tensors.forEach((t, i) => {
    w.offset = dataStart + (offsets[i] ?? 0);
    w.raw(float32Bytes(t.data));
  });
  return w.bytes;
}
