// Core in a real browser: the page of test/browser/page, bundled by Vite from @0g-compute/core/browser
// (no Node.js module may be reached), is loaded in Debian's chromium driven by playwright-core. It buys one
// answer from a local provider whose CORS allows the page's origin, verifies the receipt and acknowledges it,
// with lane state in IndexedDB that survives a reload. A page from an origin the provider does not list
// cannot call it. Everything listens on 127.0.0.1; chromium, anvil and the servers are stopped by this file.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserServer, chromium } from "playwright-core";
import { startLocalNetwork, type LocalNetwork, type LocalUser } from "@0g-compute/provider/testing";
import type { PageResult } from "./browser/page-result.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const MODEL = "test-scripted";

/** Runs a command to completion (its PID is ours until it exits); rejects with its output on failure. */
function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(" ")} failed:\n${output}`))));
  });
}

const TYPES: Record<string, string> = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };

/** A static server for the built page on 127.0.0.1 (an origin of its own per port). */
async function serveDir(dir: string): Promise<{ server: Server; origin: string }> {
  const server = createServer(async (req, res) => {
    const path = normalize(new URL(req.url ?? "/", "http://x").pathname).replace(/^(\.\.[/\\])+/, "");
    const file = join(dir, path === "/" ? "index.html" : path);
    try {
      const body = await readFile(file);
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`chromium is missing at ${CHROMIUM}: .ci/run installs Debian's chromium`);
// Without chromium (a developer machine that did not install it) the suite says so and skips.
const describeBrowser = haveChromium ? describe : describe.skip;
if (!haveChromium)
  process.stdout.write(`browser tests skipped: no chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)\n`);

describeBrowser("core in the browser", () => {
  let dist: string;
  let page: { server: Server; origin: string };
  let stranger: { server: Server; origin: string };
  let net: LocalNetwork;
  let user: LocalUser;
  let browserServer: BrowserServer;
  let browser: Browser;

  beforeAll(async () => {
    dist = await mkdtemp(join(tmpdir(), "0g-browser-page-"));
    await run(process.execPath, [
      join(root, "node_modules/vite/bin/vite.js"),
      "build",
      "--config",
      "test/browser/vite.config.ts",
      "--outDir",
      dist,
    ]);
    page = await serveDir(dist);
    stranger = await serveDir(dist);
    net = await startLocalNetwork({ providers: [{ kind: "llama", model: "scripted" }], node: { corsOrigins: [page.origin] } });
    user = await net.newUser({ deposit: 10n ** 18n, fund: 10n ** 17n });
    browserServer = await chromium.launchServer({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
    browser = await chromium.connect(browserServer.wsEndpoint());
  }, 180_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    const pid = browserServer?.process().pid;
    await browserServer?.close().catch(() => undefined);
    if (pid !== undefined) {
      try {
        process.kill(pid, "SIGKILL"); // already gone after close(), unless it hung
      } catch {
        // exited
      }
    }
    await net?.stop();
    for (const s of [page, stranger]) if (s) await new Promise((r) => s.server.close(r));
    if (dist) await rm(dist, { recursive: true, force: true });
  });

  const settings = () => ({
    network: { ...net.network, fromBlock: net.network.fromBlock.toString() },
    key: user.privateKey,
    model: MODEL,
    provider: net.providers[0]!.address,
    prompt: "Hello from a browser",
  });
  const open = async (context: Awaited<ReturnType<Browser["newContext"]>>, origin: string, stream = false): Promise<PageResult> => {
    const tab = await context.newPage();
    await tab.goto(`${origin}/#${encodeURIComponent(JSON.stringify({ ...settings(), stream }))}`);
    // The page leaves its outcome in `window.__result`.
    const pageResult = () => (globalThis as { __result?: PageResult }).__result;
    await tab.waitForFunction(pageResult, undefined, { timeout: 60_000 });
    const result = (await tab.evaluate(pageResult)) as PageResult;
    await tab.close();
    return result;
  };

  it("buys one answer, verifies its receipt and acknowledges it, with lane state in IndexedDB across reloads", async () => {
    const context = await browser.newContext();
    const provider = net.providers[0]!;
    const first = await open(context, page.origin);
    expect(first).toMatchObject({ ok: true, nonce: "1", before: { nextNonce: "1", acked: "0" } });
    expect(first.text!.length).toBeGreaterThan(0);
    expect(BigInt(first.fee!)).toBeGreaterThan(0n);
    // The provider stored the receipt the page verified, and holds the page's acknowledgement of it.
    const stored = await fetch(`${provider.node.url}/v1/receipts/${first.ticketDigest}`);
    expect(stored.status).toBe(200);
    const lane = provider.node.store.lane(user.account.address, user.account.address);
    expect(lane.billed).toBe(BigInt(first.fee!));
    expect(lane.acked).toBe(lane.billed);
    expect(first.after).toEqual({ nextNonce: "3", acked: first.fee, sentCumulative: first.fee }); // request 1, ack 2

    // A reload (a new page in the same profile) continues the lane from IndexedDB: no nonce reused. This
    // one streams: the events and their receipt reach the page through CORS too.
    const second = await open(context, page.origin, true);
    expect(second).toMatchObject({ ok: true, nonce: "3", text: first.text });
    expect(second.before).toEqual({ nextNonce: "3", acked: first.fee });
    expect(BigInt(second.cumulative!)).toBe(BigInt(first.fee!) + BigInt(second.fee!));
    expect(provider.node.store.lane(user.account.address, user.account.address).acked).toBe(BigInt(second.cumulative!));
    await context.close();
  }, 120_000);

  it("is refused by the browser from an origin the provider does not list, and nothing is billed", async () => {
    const context = await browser.newContext();
    const provider = net.providers[0]!;
    const billed = provider.node.store.lane(user.account.address, user.account.address).billed;
    const result = await open(context, stranger.origin);
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/fetch|provider/i);
    expect(provider.node.store.lane(user.account.address, user.account.address).billed).toBe(billed);
    // The preflight itself names no origin but the listed one.
    const preflight = await fetch(`${provider.node.url}/v1/chat/completions`, {
      method: "OPTIONS",
      headers: { origin: stranger.origin, "access-control-request-method": "POST", "access-control-request-headers": "x-0g-ticket" },
    });
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
    const allowed = await fetch(`${provider.node.url}/v1/chat/completions`, {
      method: "OPTIONS",
      headers: { origin: page.origin, "access-control-request-method": "POST", "access-control-request-headers": "x-0g-ticket" },
    });
    expect(allowed.headers.get("access-control-allow-origin")).toBe(page.origin);
    expect(allowed.headers.get("access-control-allow-headers")).toMatch(/x-0g-ticket/);
    await context.close();
  }, 120_000);
});
