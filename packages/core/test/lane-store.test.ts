import { describe, expect, it } from "@jest/globals";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { keccak256, toHex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { decodeHeader, escrowDomain, FileLaneStore, LaneLockedError, MemoryLaneStore, PaymentSession, TICKET_HEADER, ticketFromWire, ZERO_HASH, type LaneId, type ServiceInfo } from "../src/index.js";

const domain = escrowDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3");
const user = privateKeyToAccount(generatePrivateKey());
const provider = privateKeyToAccount(generatePrivateKey()).address;
const service: ServiceInfo = {
  id: keccak256(toHex("svc")), provider, name: "chat", model: "m", modelHash: ZERO_HASH, quantization: "", endpoint: "http://127.0.0.1:1",
  inputPrice: 1n, outputPrice: 1n, version: 1, signer: provider, previousSigner: "0x0000000000000000000000000000000000000000", rotatedAt: 0n, metadata: {}, active: true,
};
const lane: LaneId = { chainId: 31337, escrow: domain.verifyingContract, user: user.address, provider, signer: user.address };

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "0g-lanes-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe("FileLaneStore", () => {
  it("100 concurrent tickets get 100 distinct nonces, and a restart continues above them", () =>
    withDir(async (dir) => {
      let store = await FileLaneStore.open(dir);
      let session = new PaymentSession({ domain, user: user.address, signer: user, service, store });
      const tickets = await Promise.all(Array.from({ length: 100 }, () => session.signTicket(ZERO_HASH, 1n)));
      expect(new Set(tickets.map((t) => t.nonce)).size).toBe(100);
      expect(tickets.map((t) => t.nonce).sort((a, b) => (a < b ? -1 : 1))[99]).toBe(100n);
      await store.update(lane, (s) => ({ ...s, acked: 777n }));
      await store.close();
      expect((await stat(join(dir, "lanes.json"))).mode & 0o777).toBe(0o600);

      store = await FileLaneStore.open(dir);
      session = new PaymentSession({ domain, user: user.address, signer: user, service, store });
      const next = await session.signTicket(ZERO_HASH, 1n);
      expect(next.nonce).toBe(101n);
      expect(next.cumulative).toBe(777n);
      await store.close();
    }));

  it("refuses a second live process on the same state, and takes over a stale lock", () =>
    withDir(async (dir) => {
      const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { stdio: "ignore" });
      try {
        await writeFile(join(dir, "lanes.lock"), String(child.pid));
        await expect(FileLaneStore.open(dir)).rejects.toBeInstanceOf(LaneLockedError);
      } finally {
        child.kill("SIGKILL");
        await new Promise((r) => child.once("exit", r));
      }
      // The holder is dead now: its lock is stale.
      const store = await FileLaneStore.open(dir);
      expect((await readFile(join(dir, "lanes.lock"), "utf8")).trim()).toBe(String(process.pid));
      await store.close();
      await expect(stat(join(dir, "lanes.lock"))).rejects.toThrow();
    }));

  it("a corrupt state file is a typed error, not a silent reset to nonce 1", () =>
    withDir(async (dir) => {
      await writeFile(join(dir, "lanes.json"), "{not json");
      await expect(FileLaneStore.open(dir)).rejects.toMatchObject({ code: "LANE_STATE_CORRUPT" });
      await expect(stat(join(dir, "lanes.lock"))).rejects.toThrow(); // the lock is released again
    }));
});

describe("PaymentSession acknowledgements", () => {
  it("a flush while an acknowledgement is on its way sends another one for what was verified since", async () => {
    const store = new MemoryLaneStore();
    const acks: bigint[] = [];
    let release: (() => void) | undefined;
    const fakeFetch = (async (_url: string | URL | Request, init?: RequestInit) => {
      const header = new Headers(init?.headers).get(TICKET_HEADER)!;
      acks.push(ticketFromWire(decodeHeader("ticket", header)).cumulative);
      if (acks.length === 1) await new Promise<void>((r) => (release = r)); // the first ack is slow
      return new Response(JSON.stringify({ ok: true }), { headers: { "content-type": "application/json" } });
    }) as typeof fetch;
    const session = new PaymentSession({ domain, user: user.address, signer: user, service, store, fetch: fakeFetch });
    await store.update(lane, (s) => ({ ...s, acked: 10n }));
    const first = session.flushAck(); // in flight with 10
    while (!release) await new Promise((r) => setTimeout(r, 1));
    await store.update(lane, (s) => ({ ...s, acked: 25n })); // another receipt verified meanwhile
    const closing = session.close();
    release();
    await Promise.all([first, closing]);
    expect(acks).toEqual([10n, 25n]);
    expect((await store.read(lane)).sentCumulative).toBe(25n);
  });
});
