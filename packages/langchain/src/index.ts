/**
 * @0g-compute/langchain: `ChatZeroG`, a LangChain.js chat model, and `ZeroGEmbeddings`, LangChain.js
 * embeddings, that buy inference on the 0G Compute network through `@0g-compute/core` (signed tickets,
 * verified receipts, spending caps).
 */
export {
  ChatZeroG,
  type ChatZeroGCallOptions,
  type ChatZeroGInput,
  type ResponseFormat,
  type ZeroGResponseMetadata,
} from "./chat-zerog.js";
export type { ZeroGConnectionFields } from "./connection.js";
export { ChatZeroGError, type ChatZeroGErrorCode } from "./errors.js";
export { ZeroGEmbeddings, type ZeroGEmbeddingsInput } from "./zerog-embeddings.js";
export {
  toOpenAIMessages,
  toOpenAITool,
  toOpenAIToolChoice,
  type OpenAIMessage,
  type OpenAITool,
  type OpenAIToolChoice,
} from "./convert.js";
