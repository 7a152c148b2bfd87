// A minimal protocol peer for testing core's client side: it speaks the provider half of the wire format
// with core's own primitives (ticket checks, nonce window, receipts), and can be told to misbehave.
// The real provider node lives in packages/provider; this peer exists so core's tests stand alone.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Address, Hex, LocalAccount } from "viem";
import {
  AdmissionError,
  checkTicket,
  decodeHeader,
  EMPTY_NONCE_WINDOW,
  encodeHeader,
  feeFor,
  protocolErrorBody,
  RECEIPT_HEADER,
  receiptToWire,
  requestHash,
  responseHash,
  signReceipt,
  StreamHasher,
  TICKET_HEADER,
  ticketFromWire,
  ticketToWire,
  useNonce,
  type EscrowDomain,
  type HonouredTerms,
  type NonceWindowState,
} from "../src/index.js";

export type PeerMode = "honest" | "inflate" | "wrong-hash" | "error-500" | "no-receipt" | "refuse-402";

export interface Peer {
  url: string;
  mode: PeerMode;
  /** Highest cumulative seen per signer (from any ticket, ack-only included). */
  acked: Map<string, bigint>;
  requests: number;
  acks: number;
  /** Headers of the last request that carried a ticket. */
  lastHeaders: IncomingMessage["headers"];
  /** Seconds this peer's clock runs ahead of the wall clock (negative: behind). */
  clockOffset: number;
  close(): Promise<void>;
}

export async function startPeer(options: {
  domain: EscrowDomain;
  provider: Address;
  signer: LocalAccount;
  terms: () => HonouredTerms;
  tokens?: { input: number; output: number };
  mode?: PeerMode;
}): Promise<Peer> {
  const windows = new Map<string, NonceWindowState>();
  const best = new Map<string, ReturnType<typeof ticketToWire>>();
  const tokens = options.tokens ?? { input: 10, output: 5 };
  const peer: Peer = {
    url: "",
    mode: options.mode ?? "honest",
    acked: new Map(),
    requests: 0,
    acks: 0,
    lastHeaders: {},
    clockOffset: 0,
    close: async () => undefined,
  };

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(text);
  };

  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (req.method === "GET" && path === "/health") return send(res, 200, { ok: true });
    if (peer.mode === "error-500") return send(res, 500, protocolErrorBody("internal_error", "down for the test"));
    if (peer.mode === "refuse-402")
      return send(res, 402, protocolErrorBody("insufficient_balance", "channel too small", { free: "0", needed: "1" }));
    const header = req.headers[TICKET_HEADER];
    if (header !== undefined) peer.lastHeaders = req.headers;
    if (typeof header !== "string") return send(res, 401, protocolErrorBody("ticket_missing", "no ticket"));
    try {
      const ticket = ticketFromWire(decodeHeader("ticket", header));
      const ackOnly = path === "/v1/ack";
      const checked = await checkTicket({
        domain: options.domain,
        ticket,
        provider: options.provider,
        now: BigInt(Math.floor(Date.now() / 1000) + peer.clockOffset),
        ...(ackOnly ? {} : { requestHash: requestHash(path, raw), terms: options.terms() }),
      });
      const laneKey = checked.signer.toLowerCase();
      try {
        windows.set(laneKey, useNonce(windows.get(laneKey) ?? EMPTY_NONCE_WINDOW, ticket.nonce));
      } catch (err) {
        if (err instanceof AdmissionError) {
          const details = {
            ...err.details,
            highestNonce: (windows.get(laneKey)?.highest ?? 0n).toString(),
            ...(best.has(laneKey) ? { ticket: best.get(laneKey) } : {}),
          };
          return send(res, err.status, protocolErrorBody(err.protocolCode, err.message, details));
        }
        throw err;
      }
      const prev = peer.acked.get(laneKey) ?? 0n;
      if (ticket.cumulative > prev || !best.has(laneKey)) {
        peer.acked.set(laneKey, ticket.cumulative > prev ? ticket.cumulative : prev);
        if (ticket.cumulative >= prev) best.set(laneKey, ticketToWire(ticket));
      }
      if (ackOnly) {
        peer.acks += 1;
        return send(res, 200, { ok: true });
      }
      peer.requests += 1;
      const body = JSON.parse(raw.toString("utf8")) as { stream?: boolean };
      let fee = feeFor(ticket.terms, tokens.input, tokens.output);
      if (peer.mode === "inflate") fee += 5n;
      if (body.stream) {
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-transform" });
        const hasher = new StreamHasher();
        for (const word of ["Hello", " from", " the", " peer"]) {
          const data = JSON.stringify({ id: "c1", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: word } }] });
          hasher.update(data);
          res.write(`data: ${data}\r\n\r\n`);
          res.write(": keep-alive\n\n");
        }
        const receipt = await signReceipt(options.signer, options.domain, {
          ticketDigest: checked.digest,
          responseHash: peer.mode === "wrong-hash" ? responseHash("x") : (hasher.digest() as Hex),
          inputTokens: tokens.input,
          outputTokens: tokens.output,
          fee,
        });
        if (peer.mode !== "no-receipt") {
          res.write(
            `data: ${JSON.stringify({ id: "c1", object: "chat.completion.chunk", choices: [], usage: { prompt_tokens: tokens.input, completion_tokens: tokens.output, total_tokens: tokens.input + tokens.output }, x_receipt: receiptToWire(receipt) })}\n\n`,
          );
        }
        res.end("data: [DONE]\n\n");
        return;
      }
      const text = JSON.stringify({
        id: "c1",
        object: "chat.completion",
        model: "peer-model",
        choices: [{ index: 0, message: { role: "assistant", content: "Hello from the peer" }, finish_reason: "stop" }],
        usage: { prompt_tokens: tokens.input, completion_tokens: tokens.output, total_tokens: tokens.input + tokens.output },
      });
      const receipt = await signReceipt(options.signer, options.domain, {
        ticketDigest: checked.digest,
        responseHash: peer.mode === "wrong-hash" ? responseHash("x") : responseHash(text),
        inputTokens: tokens.input,
        outputTokens: tokens.output,
        fee,
      });
      res.writeHead(200, {
        "content-type": "application/json",
        ...(peer.mode === "no-receipt" ? {} : { [RECEIPT_HEADER]: encodeHeader(receiptToWire(receipt)) }),
      });
      res.end(text);
    } catch (err) {
      if (err instanceof AdmissionError) return send(res, err.status, protocolErrorBody(err.protocolCode, err.message, err.details));
      return send(res, 400, protocolErrorBody("bad_ticket", err instanceof Error ? err.message : String(err)));
    }
  };

  const server: Server = createServer((req, res) => {
    handler(req, res).catch((err: unknown) => send(res, 500, protocolErrorBody("internal_error", String(err))));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  peer.url = `http://127.0.0.1:${port}`;
  peer.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return peer;
}
