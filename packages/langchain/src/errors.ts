import { ZeroGError } from "@0g-compute/core";

/** Stable codes of {@link ChatZeroGError}. */
export type ChatZeroGErrorCode =
  /** A constructor (ChatZeroG or ZeroGEmbeddings) was given something it cannot use (no model, a malformed key or address). */
  | "CHAT_CONFIG"
  /** No key to sign tickets with: none given and `ZG_PRIVATE_KEY` unset. */
  | "CHAT_NO_KEY"
  /** The provider's answer is not an OpenAI chat completion. */
  | "CHAT_BAD_RESPONSE"
  /** The provider's answer is not an OpenAI embeddings list with one vector per text. */
  | "EMBEDDINGS_BAD_RESPONSE";

/**
 * An error of the LangChain classes themselves (ChatZeroG, ZeroGEmbeddings). Payment errors keep their core classes and codes
 * (`SPENDING_LIMIT`, `NO_PROVIDER`, `PROVIDER_*`, receipt problems...).
 *
 * @example
 * try {
 *   await model.invoke("hi");
 * } catch (err) {
 *   if (err instanceof ChatZeroGError && err.code === "CHAT_NO_KEY") console.error(err.hint);
 * }
 */
export class ChatZeroGError extends ZeroGError {
  declare readonly code: ChatZeroGErrorCode;
  constructor(code: ChatZeroGErrorCode, message: string, hint?: string) {
    super(code, message, hint === undefined ? {} : { hint });
  }
}
