/**
 * @0g-compute/langchain: `ChatZeroG`, a LangChain.js chat model that buys inference on the 0G Compute
 * network through `@0g-compute/core` (signed tickets, verified receipts, spending caps).
 */
export {
  ChatZeroG,
  type ChatZeroGCallOptions,
  type ChatZeroGInput,
  type ResponseFormat,
  type ZeroGResponseMetadata,
} from "./chat-zerog.js";
export { ChatZeroGError, type ChatZeroGErrorCode } from "./errors.js";
export {
  toOpenAIMessages,
  toOpenAITool,
  toOpenAIToolChoice,
  type OpenAIMessage,
  type OpenAITool,
  type OpenAIToolChoice,
} from "./convert.js";
