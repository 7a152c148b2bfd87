/**
 * snarkjs's binary container (`.ptau`, `.r1cs`, `.zkey`, `.wtns`): a 4-byte magic, a u32 version, a u32
 * section count, then sections of `u32 id ‖ u64 size ‖ bytes`, every integer little-endian. The writer
 * writes to a temporary file and renames it into place only when complete.
 */
import { closeSync, openSync, readFileSync, readSync, renameSync, rmSync, writeSync } from "node:fs";

/** `v` as `n` little-endian bytes. */
export function le(v: bigint, n: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = v;
  for (let i = 0; i < n; i++) {
    b[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return b;
}

/** A u32, little-endian. */
export const u32 = (v: number): Uint8Array => le(BigInt(v), 4);

/** Where each section of a binary file lies: id -> offset of its bytes and their size. */
export function readSections(path: string, magic: string): { file: Buffer; sections: Map<number, { offset: number; size: number }> } {
  const file = readFileSync(path);
  if (file.toString("latin1", 0, 4) !== magic) throw new Error(`${path} is not a ${magic} file`);
  const sections = new Map<number, { offset: number; size: number }>();
  let at = 12;
  for (let i = 0; i < file.readUInt32LE(8); i++) {
    const size = Number(file.readBigUInt64LE(at + 4));
    sections.set(file.readUInt32LE(at), { offset: at + 12, size });
    at += 12 + size;
  }
  return { file, sections };
}

/**
 * The first `length` bytes of section `id`, reading only the section heads before it (keys run to
 * gigabytes); undefined when the file is not a `magic` file or has no such section.
 */
export function readSectionStart(path: string, magic: string, id: number, length: number): Uint8Array | undefined {
  const fd = openSync(path, "r");
  try {
    const read = (at: number, n: number): Buffer => {
      const b = Buffer.alloc(n);
      readSync(fd, b, 0, n, at);
      return b;
    };
    const head = read(0, 12);
    if (head.toString("latin1", 0, 4) !== magic) return undefined;
    let at = 12;
    for (let i = 0; i < head.readUInt32LE(8); i++) {
      const s = read(at, 12);
      if (s.readUInt32LE(0) === id) return read(at + 12, length);
      at += 12 + Number(s.readBigUInt64LE(4));
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a binary file section by section.
 *
 * @example
 * const out = new BinFileWriter(path, "zkey", 1, 10);
 * out.section(1, [u32(1)]);
 * out.commit();
 */
export class BinFileWriter {
  private readonly tmp: string;
  private readonly fd: number;

  constructor(
    private readonly path: string,
    magic: string,
    version: number,
    sectionCount: number,
  ) {
    this.tmp = `${path}.tmp-${process.pid}`;
    this.fd = openSync(this.tmp, "w");
    this.write(new TextEncoder().encode(magic));
    this.write(u32(version));
    this.write(u32(sectionCount));
  }

  write(bytes: Uint8Array): void {
    let off = 0;
    while (off < bytes.length) off += writeSync(this.fd, bytes, off, bytes.length - off);
  }

  /** The head of a section of `size` bytes; its bytes follow with {@link write}. */
  sectionHead(id: number, size: number): void {
    this.write(u32(id));
    this.write(le(BigInt(size), 8));
  }

  /** A whole section. */
  section(id: number, parts: Uint8Array[]): void {
    this.sectionHead(
      id,
      parts.reduce((sum, p) => sum + p.length, 0),
    );
    for (const p of parts) this.write(p);
  }

  /** Close and move the file into place. */
  commit(): void {
    closeSync(this.fd);
    renameSync(this.tmp, this.path);
  }

  /** Close and delete what was written. */
  abort(): void {
    closeSync(this.fd);
    rmSync(this.tmp, { force: true });
  }
}
