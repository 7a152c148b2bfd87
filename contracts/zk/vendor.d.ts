// Minimal typings for the untyped ZK toolchain packages, covering only what this project calls.

declare module "ffjavascript" {
  /** A field of the BN254 curve, elements in the library's internal (Montgomery) form. */
  export interface WasmField {
    n8: number;
    e(value: bigint | number | string): Uint8Array;
    toObject(element: Uint8Array): bigint;
    toRprLE(buff: Uint8Array, offset: number, element: Uint8Array): void;
    w: Uint8Array[];
  }
  export interface WasmGroup {
    F: { n8: number };
    g: Uint8Array;
    zero: Uint8Array;
    add(a: Uint8Array, b: Uint8Array): Uint8Array;
    double(a: Uint8Array): Uint8Array;
    toAffine(a: Uint8Array): Uint8Array;
    toRprLEM(buff: Uint8Array, offset: number, point: Uint8Array): void;
    timesScalar(point: Uint8Array, scalar: bigint): Uint8Array;
  }
  export interface TaskCommand {
    cmd: "ALLOCSET" | "ALLOC" | "CALL" | "GET";
    var?: number;
    out?: number;
    len?: number;
    buff?: Uint8Array;
    fnName?: string;
    params?: ({ var: number; offset?: number } | { val: number })[];
  }
  export interface Bn128 {
    Fr: WasmField;
    G1: WasmGroup;
    G2: WasmGroup;
    q: bigint;
    r: bigint;
    tm: { concurrency: number; queueAction(task: TaskCommand[]): Promise<Uint8Array[]> };
    terminate(): Promise<void>;
  }
  export function buildBn128(singleThread?: boolean): Promise<Bn128>;
}

declare module "snarkjs" {
  export interface Groth16Proof {
    pi_a: string[];
    pi_b: string[][];
    pi_c: string[];
    protocol: string;
    curve: string;
  }
  export type Logger = { debug(m: string): void; info(m: string): void; warn(m: string): void; error(m: string): void };
  export const groth16: {
    fullProve(
      input: Record<string, unknown>,
      wasm: string | Uint8Array,
      zkey: string | Uint8Array,
      logger?: Logger,
    ): Promise<{ proof: Groth16Proof; publicSignals: string[] }>;
    prove(
      zkey: string | Uint8Array,
      witness: string | Uint8Array | { type: "mem"; data?: Uint8Array },
      logger?: Logger,
    ): Promise<{ proof: Groth16Proof; publicSignals: string[] }>;
    verify(vkey: unknown, publicSignals: string[], proof: Groth16Proof): Promise<boolean>;
  };
  export const wtns: {
    calculate(input: Record<string, unknown>, wasm: string | Uint8Array, out: string | { type: "mem"; data?: Uint8Array }): Promise<void>;
  };
  export const powersOfTau: {
    preparePhase2(oldPtau: string, newPtau: string, logger?: Logger): Promise<void>;
    newAccumulator(curve: unknown, power: number, file: string, logger?: Logger): Promise<Uint8Array>;
    verify(file: string, logger?: Logger): Promise<boolean>;
  };
  export const zKey: {
    newZKey(r1cs: string, ptau: string, zkey: string, logger?: Logger): Promise<Uint8Array>;
    contribute(oldZkey: string, newZkey: string, name: string, entropy: string, logger?: Logger): Promise<Uint8Array>;
    beacon(
      oldZkey: string,
      newZkey: string,
      name: string,
      beaconHashHex: string,
      numIterationsExp: number,
      logger?: Logger,
    ): Promise<Uint8Array>;
    exportVerificationKey(zkey: string, logger?: Logger): Promise<unknown>;
    exportSolidityVerifier(zkey: string, templates: Record<string, string>, logger?: Logger): Promise<string>;
    verifyFromR1cs(r1cs: string, ptau: string, zkey: string, logger?: Logger): Promise<boolean>;
  };
  export const r1cs: {
    info(
      file: string,
      logger?: Logger,
    ): Promise<{ nConstraints: number; nVars: number; nPubInputs: number; nOutputs: number; nPrvInputs: number }>;
  };
}
