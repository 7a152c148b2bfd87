/**
 * Child process of `bench:provider`: the physical floor of the payment layer on this CPU, the work no
 * implementation can skip per paid request:
 * - one secp256k1 recovery (the ticket's signer) and one signature (the receipt), native as shipped;
 * - the keccaks: the request body's hash, the ticket's and the receipt's EIP-712 digests;
 * - two SQLite writes (the lane and the receipt) sharing a WAL commit with 63 other requests' writes.
 *
 * Run it pinned to the core the provider is measured on. Prints one JSON line: the median and range (over
 * rounds) of each primitive in microseconds, and their sum.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { keccak256, toHex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import {
  escrowDomain,
  receiptDigest,
  recoverDigestSigner,
  requestHash,
  secp256k1BackendName,
  signDigest,
  signTicket,
  ticketDigest,
} from "@0g-compute/core";
import { ProviderStore } from "../src/store.js";

const ROUNDS = 7;
const N = 400;
const BATCH = 64;

const body = JSON.stringify({ model: "bench-model", messages: [{ role: "user", content: "benchmark the payment layer" }], max_tokens: 8 });
const domain = escrowDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3");
const user = privateKeyToAccount(generatePrivateKey());
const key = generatePrivateKey();
const ticket = await signTicket(user, domain, {
  user: user.address,
  provider: privateKeyToAccount(generatePrivateKey()).address,
  nonce: 7n,
  cumulative: 123_456n,
  terms: {
    serviceId: keccak256(toHex("svc")),
    serviceVersion: 1,
    inputPrice: 1000n,
    outputPrice: 2000n,
    maxCost: 10n ** 12n,
    requestHash: requestHash("/v1/chat/completions", body),
    deadline: 2_000_000_000n,
  },
});
const digest = ticketDigest(domain, ticket);
const receipt = { ticketDigest: digest, responseHash: keccak256(toHex("answer")), inputTokens: 12, outputTokens: 8, fee: 28_000n };

/** Microseconds per call of `fn`, over N calls. */
async function perCall(fn: () => unknown): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < N; i++) await fn();
  return ((performance.now() - t) * 1000) / N;
}

const dir = mkdtempSync(join(tmpdir(), "0g-floor-"));
const store = new ProviderStore(join(dir, "floor.db"));
const laneWrite =
  store.db.prepare(`INSERT INTO lanes (user, signer, highest_nonce, nonce_bitmap, acked, billed, settled, best_ticket, best_nonce, updated_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (user, signer) DO UPDATE SET highest_nonce = excluded.highest_nonce, nonce_bitmap = excluded.nonce_bitmap, acked = excluded.acked,
    billed = excluded.billed, settled = excluded.settled, best_ticket = excluded.best_ticket, best_nonce = excluded.best_nonce, updated_at = excluded.updated_at`);
const receiptWrite = store.db.prepare(
  "INSERT INTO requests (user, signer, nonce, digest, max_cost, status, fee, receipt, created_at) VALUES (?, ?, ?, ?, ?, 'billed', ?, ?, ?)",
);
const ticketJson = JSON.stringify({ ...ticket, nonce: "7", cumulative: "123456" }, (_, v) => (typeof v === "bigint" ? v.toString() : v));
let nonce = 0;
/** Two writes per request, BATCH requests per commit, as the provider's group commit does under load. */
const sqlite = () => {
  store.db
    .transaction(() => {
      for (let i = 0; i < BATCH; i++) {
        nonce += 1;
        const u = `0x${(nonce % 64).toString(16).padStart(40, "0")}`;
        laneWrite.run(u, u, String(nonce), "1", "100", "200", "0", ticketJson, String(nonce), nonce);
        receiptWrite.run(u, u, String(nonce), digest, "1000", "28000", ticketJson, nonce);
      }
    })
    .immediate();
};

const primitives: Record<string, () => unknown> = {
  "secp256k1 recovery": () => recoverDigestSigner(digest, ticket.signature),
  "secp256k1 signature": () => signDigest(digest, key),
  "keccak: request body": () => requestHash("/v1/chat/completions", body),
  "keccak: ticket digest (EIP-712)": () => ticketDigest(domain, ticket),
  "keccak: receipt digest (EIP-712)": () => receiptDigest(domain, receipt),
};
const samples: Record<string, number[]> = {};
for (const name of [...Object.keys(primitives), "SQLite: 2 writes, commit shared by 64"]) samples[name] = [];
for (const fn of Object.values(primitives)) await perCall(fn); // warm
for (let i = 0; i < 8; i++) sqlite();
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, fn] of Object.entries(primitives)) samples[name]!.push(await perCall(fn));
  const t = performance.now();
  for (let i = 0; i < N / BATCH; i++) sqlite();
  samples["SQLite: 2 writes, commit shared by 64"]!.push(((performance.now() - t) * 1000) / (Math.floor(N / BATCH) * BATCH));
}
store.close();
rmSync(dir, { recursive: true, force: true });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const figures = Object.fromEntries(
  Object.entries(samples).map(([name, xs]) => [name, { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) }]),
);
const total = Object.values(figures).reduce((s, f) => s + f.median, 0);
process.stdout.write(`${JSON.stringify({ backend: secp256k1BackendName(), figures, totalUs: total })}\n`);
