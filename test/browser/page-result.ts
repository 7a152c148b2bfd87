/** What the browser test page (test/browser/page) leaves in `window.__result` for the test to read. */
export interface PageResult {
  ok: boolean;
  error?: string;
  code?: string;
  text?: string;
  fee?: string;
  cumulative?: string;
  ticketDigest?: string;
  nonce?: string;
  /** The lane's state in IndexedDB when the page loaded. */
  before?: { nextNonce: string; acked: string };
  after?: { nextNonce: string; acked: string; sentCumulative: string };
}
