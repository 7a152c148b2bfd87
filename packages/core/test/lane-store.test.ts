import { describe, expect, it } from "@jest/globals";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { keccak256, toHex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import {
  decodeHeader,
  escrowDomain,
  FileLaneStore,
  MemoryLaneStore,
  PaymentSession,
  TICKET_HEADER,
  ticketFromWire,
  ZERO_HASH,
  type LaneId,
  type ServiceInfo,
} from "../src/index.js";

const domain = escrowDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3");
const user = privateKeyToAccount(generatePrivateKey());
const provider = privateKeyToAccount(generatePrivateKey()).address;
const service: ServiceInfo = {
  id: keccak256(toHex("svc")),
  provider,
  name: "chat",
  model: "m",
  modelHash: ZERO_HASH,
  quantization: "",
  endpoint: "http://127.0.0.1:1",
  inputPrice: 1n,
  outputPrice: 1n,
  version: 1,
  signer: provider,
  previousSigner: "0x0000000000000000000000000000000000000000",
  rotatedAt: 0n,
  metadata: {},
  active: true,
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

  it(
    "processes sharing one directory draw distinct nonces and add up their fees",
    () =>
      withDir(async (dir) => {
        // Two other processes and this one each sign 40 tickets and acknowledge 1 wei per ticket, at once.
        const script = `
        import { FileLaneStore } from "@0g-compute/core";
        const lane = JSON.parse(process.env.LANE);
        const store = await FileLaneStore.open(process.env.DIR);
        const nonces = [];
        for (let i = 0; i < 40; i++) {
          const s = await store.update(lane, (c) => ({ ...c, nextNonce: c.nextNonce + 1n }));
          nonces.push(String(s.nextNonce - 1n));
          await store.update(lane, (c) => ({ ...c, acked: c.acked + 1n }));
        }
        await store.close();
        process.stdout.write(JSON.stringify(nonces));
      `;
        const child = () =>
          new Promise<string[]>((resolve, reject) => {
            const p = spawn(process.execPath, ["--conditions=@0g-compute/source", "--import", "tsx", "--input-type=module", "-e", script], {
              env: { ...process.env, DIR: dir, LANE: JSON.stringify(lane) },
              stdio: ["ignore", "pipe", "inherit"],
            });
            let out = "";
            p.stdout.on("data", (d: Buffer) => (out += d.toString()));
            p.once("exit", (code) => (code === 0 ? resolve(JSON.parse(out) as string[]) : reject(new Error(`child exited ${code}`))));
          });
        const store = await FileLaneStore.open(dir);
        const session = new PaymentSession({ domain, user: user.address, signer: user, service, store });
        const own = async () => {
          const nonces: string[] = [];
          for (let i = 0; i < 40; i++) {
            nonces.push(String((await session.signTicket(ZERO_HASH, 1n)).nonce));
            await store.update(lane, (c) => ({ ...c, acked: c.acked + 1n }));
          }
          return nonces;
        };
        const all = (await Promise.all([child(), child(), own()])).flat();
        expect(all).toHaveLength(120);
        expect(new Set(all).size).toBe(120);
        expect(await store.read(lane)).toEqual({ nextNonce: 121n, acked: 120n, sentCumulative: 0n });
        await store.close();
      }),
    60_000,
  );

  it("waits for a lock another process holds, and takes over one its dead holder left", () =>
    withDir(async (dir) => {
      const store = await FileLaneStore.open(dir);
      const lockDir = join(dir, "lanes.lock");
      await mkdir(lockDir); // held, fresh
      let done = false;
      const pending = store
        .update(lane, (c) => ({ ...c, nextNonce: c.nextNonce + 1n }))
        .then((s) => {
          done = true;
          return s;
        });
      await new Promise((r) => setTimeout(r, 300));
      expect(done).toBe(false); // nothing is written while another holds the lock
      await rm(lockDir, { recursive: true });
      expect((await pending).nextNonce).toBe(2n);

      await mkdir(lockDir); // left behind by a process that died: not refreshed for a minute
      const old = new Date(Date.now() - 60_000);
      await utimes(lockDir, old, old);
      expect((await store.update(lane, (c) => ({ ...c, nextNonce: c.nextNonce + 1n }))).nextNonce).toBe(3n);
      await expect(stat(lockDir)).rejects.toThrow(); // released after the update
      await store.close();
    }));

  it("a corrupt state file is a typed error, not a silent reset to nonce 1", () =>
    withDir(async (dir) => {
      await writeFile(join(dir, "lanes.json"), "{not json");
      await expect(FileLaneStore.open(dir)).rejects.toMatchObject({ code: "LANE_STATE_CORRUPT" });
      await writeFile(join(dir, "lanes.json"), "{}");
      const store = await FileLaneStore.open(dir);
      await writeFile(join(dir, "lanes.json"), "{not json"); // corrupted while open
      await expect(store.update(lane, (c) => c)).rejects.toMatchObject({ code: "LANE_STATE_CORRUPT" });
      await expect(stat(join(dir, "lanes.lock"))).rejects.toThrow(); // the lock is released again
      await store.close();
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
