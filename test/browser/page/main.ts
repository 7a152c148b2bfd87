// A web page that buys one answer with @0g-compute/core/browser: its settings come in the URL's fragment
// (JSON), its lane state lives in IndexedDB, and its outcome is left in `window.__result` for the test.
import { privateKeyToAccount } from "viem/accounts";
import { createPaidFetch, IndexedDbLaneStore, ZeroGClient, type NetworkConfig } from "@0g-compute/core/browser";
import type { PageResult } from "../page-result.js";

interface PageSettings {
  network: Omit<NetworkConfig, "fromBlock"> & { fromBlock: string };
  key: `0x${string}`;
  model: string;
  /** The provider expected to answer (its lane's state is read before buying). */
  provider: `0x${string}`;
  prompt: string;
  /** Ask for a streamed answer (server-sent events). */
  stream?: boolean;
}

declare global {
  interface Window {
    __result?: PageResult;
  }
}

async function buy(settings: PageSettings): Promise<PageResult> {
  const network: NetworkConfig = { ...settings.network, fromBlock: BigInt(settings.network.fromBlock) };
  const account = privateKeyToAccount(settings.key);
  const client = new ZeroGClient({ network, account, pollingIntervalMs: 50 });
  const store = await IndexedDbLaneStore.open();
  const paidFetch = createPaidFetch({ client, store, select: { model: settings.model } });
  const lane = {
    chainId: network.chainId,
    escrow: network.escrow,
    user: account.address,
    provider: settings.provider,
    signer: account.address,
  };
  const before = await store.read(lane);
  try {
    const res = await paidFetch("http://0g.invalid/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: settings.model,
        messages: [{ role: "user", content: settings.prompt }],
        max_tokens: 16,
        ...(settings.stream ? { stream: true } : {}),
      }),
    });
    const raw = await res.text();
    const text = settings.stream
      ? raw
          .split("\n")
          .filter((line) => line.startsWith("data: {"))
          .map((line) => (JSON.parse(line.slice(6)) as { choices: { delta?: { content?: string } }[] }).choices[0]?.delta?.content ?? "")
          .join("")
      : ((JSON.parse(raw) as { choices: { message: { content: string } }[] }).choices[0]?.message.content ?? "");
    const receipt = paidFetch.receipts.at(-1);
    if (!receipt) throw new Error("no verified receipt");
    if (receipt.provider.toLowerCase() !== settings.provider.toLowerCase()) throw new Error(`answered by ${receipt.provider}`);
    await paidFetch.close(); // sends the acknowledgement of this receipt
    const after = await store.read(lane);
    return {
      ok: true,
      text,
      fee: receipt.fee.toString(),
      cumulative: receipt.cumulative.toString(),
      ticketDigest: receipt.ticketDigest,
      nonce: receipt.ticket.nonce.toString(),
      before: { nextNonce: before.nextNonce.toString(), acked: before.acked.toString() },
      after: { nextNonce: after.nextNonce.toString(), acked: after.acked.toString(), sentCumulative: after.sentCumulative.toString() },
    };
  } finally {
    await store.close();
  }
}

const out = document.getElementById("out")!;
const settings = JSON.parse(decodeURIComponent(location.hash.slice(1))) as PageSettings;
buy(settings)
  .catch(
    (err: unknown): PageResult => ({
      ok: false,
      error: err instanceof Error ? err.message : String(err),
      ...(typeof (err as { code?: unknown }).code === "string" ? { code: (err as { code: string }).code } : {}),
    }),
  )
  .then((result) => {
    window.__result = result;
    out.textContent = JSON.stringify(result, null, 2);
  });
