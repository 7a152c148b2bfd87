/**
 * LangChain messages and tools to an OpenAI chat-completions body, and the provider's answers
 * (a completion, or stream chunks) back to LangChain messages.
 */
import type { BindToolsInput, ToolChoice } from "@langchain/core/language_models/chat_models";
import {
  AIMessage,
  AIMessageChunk,
  type AIMessageFields,
  type BaseMessage,
  type InvalidToolCall,
  type MessageContent,
  type ToolCall,
  type ToolCallChunk,
  type UsageMetadata,
} from "@langchain/core/messages";
import { convertToOpenAITool } from "@langchain/core/utils/function_calling";
import { ChatZeroGError } from "./errors.js";

/** A content part of an OpenAI message. */
type OpenAIContentPart = { type: "text"; text: string } | { type: "image_url"; image_url: { url: string; detail?: string } };

/** A message of the OpenAI chat-completions API. */
export type OpenAIMessage =
  | { role: "system" | "developer"; content: string }
  | { role: "user"; content: string | OpenAIContentPart[]; name?: string }
  | { role: "assistant"; content: string | null; tool_calls?: OpenAIToolCall[]; name?: string }
  | { role: "tool"; content: string; tool_call_id: string };

/** A tool call as the OpenAI API writes it. */
interface OpenAIToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/** A tool definition of the OpenAI API. */
export interface OpenAITool {
  type: "function";
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean };
}

/** `tool_choice` as the OpenAI API takes it. */
export type OpenAIToolChoice = "none" | "auto" | "required" | { type: "function"; function: { name: string } };

/** Any LangChain tool (structured tool, runnable tool, `{name, schema}` params) or an OpenAI-format tool, as an OpenAI tool. */
export function toOpenAITool(tool: BindToolsInput): OpenAITool {
  const converted = convertToOpenAITool(tool as Parameters<typeof convertToOpenAITool>[0]) as OpenAITool;
  if (converted?.type !== "function" || typeof converted.function?.name !== "string") {
    throw new ChatZeroGError(
      "CHAT_CONFIG",
      'a tool must be a LangChain tool or an OpenAI function tool ({type: "function", function: {name, parameters}})',
    );
  }
  return converted;
}

/** LangChain's `tool_choice` ("auto", "any", "none", a tool name, or an OpenAI object) in OpenAI's form. */
export function toOpenAIToolChoice(choice: ToolChoice | undefined): OpenAIToolChoice | undefined {
  if (choice === undefined) return undefined;
  if (choice === "auto" || choice === "none" || choice === "required") return choice;
  if (choice === "any") return "required";
  if (typeof choice === "string") return { type: "function", function: { name: choice } };
  return choice as OpenAIToolChoice;
}

/** The text of message content: the string itself, or its text parts joined. */
export function contentText(content: MessageContent): string {
  if (typeof content === "string") return content;
  return content
    .map((part) => {
      if (typeof part === "string") return part;
      if (part.type === "text" && typeof part.text === "string") return part.text;
      return "";
    })
    .join("");
}

function userContent(content: MessageContent): string | OpenAIContentPart[] {
  if (typeof content === "string") return content;
  const parts: OpenAIContentPart[] = [];
  for (const part of content) {
    if (typeof part === "string") parts.push({ type: "text", text: part });
    else if (part.type === "text" && typeof part.text === "string") parts.push({ type: "text", text: part.text });
    else if (part.type === "image_url") {
      const image = (part as unknown as { image_url: string | { url: string; detail?: string } }).image_url;
      parts.push({ type: "image_url", image_url: typeof image === "string" ? { url: image } : image });
    } else if (part.type === "image" && typeof (part as unknown as { url?: unknown }).url === "string") {
      parts.push({ type: "image_url", image_url: { url: (part as unknown as { url: string }).url } });
    }
  }
  return parts;
}

function toolCallsOf(message: AIMessage): OpenAIToolCall[] {
  return (message.tool_calls ?? []).map((call, i) => ({
    id: call.id ?? `call_${i}`,
    type: "function" as const,
    function: { name: call.name, arguments: JSON.stringify(call.args ?? {}) },
  }));
}

/** LangChain messages as OpenAI chat messages (tool calls and tool results included). */
export function toOpenAIMessages(messages: BaseMessage[]): OpenAIMessage[] {
  return messages.map((m): OpenAIMessage => {
    const type = m.getType();
    switch (type) {
      case "system":
        return { role: "system", content: contentText(m.content) };
      case "human":
        return { role: "user", content: userContent(m.content) };
      case "ai": {
        const calls = toolCallsOf(m as AIMessage);
        const text = contentText(m.content);
        return {
          role: "assistant",
          content: text === "" && calls.length > 0 ? null : text,
          ...(calls.length > 0 ? { tool_calls: calls } : {}),
        };
      }
      case "tool": {
        const toolCallId = (m as BaseMessage & { tool_call_id?: string }).tool_call_id ?? "";
        return { role: "tool", content: contentText(m.content), tool_call_id: toolCallId };
      }
      case "generic": {
        const role = (m as BaseMessage & { role?: string }).role;
        if (role === "user" || role === "human") return { role: "user", content: userContent(m.content) };
        if (role === "assistant" || role === "ai") return { role: "assistant", content: contentText(m.content) };
        if (role === "system" || role === "developer") return { role, content: contentText(m.content) };
        throw new ChatZeroGError("CHAT_CONFIG", `unsupported chat message role "${role}"`);
      }
      default:
        throw new ChatZeroGError("CHAT_CONFIG", `unsupported message type "${type}"`);
    }
  });
}

/** Usage as the OpenAI API reports it. */
export interface OpenAIUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
}

/** LangChain usage metadata from OpenAI usage. */
export function usageMetadata(usage: OpenAIUsage): UsageMetadata {
  const input = usage.prompt_tokens ?? 0;
  const output = usage.completion_tokens ?? 0;
  return { input_tokens: input, output_tokens: output, total_tokens: usage.total_tokens ?? input + output };
}

/** The parts of an OpenAI chat completion this adapter reads. */
export interface OpenAICompletion {
  id?: string;
  model?: string;
  choices: {
    index?: number;
    finish_reason?: string | null;
    message?: { role?: string; content?: string | null; tool_calls?: OpenAIToolCall[] };
  }[];
  usage?: OpenAIUsage;
}

function parseToolCalls(calls: OpenAIToolCall[]): { toolCalls: ToolCall[]; invalid: InvalidToolCall[] } {
  const toolCalls: ToolCall[] = [];
  const invalid: InvalidToolCall[] = [];
  for (const call of calls) {
    try {
      const args: unknown = JSON.parse(call.function.arguments || "{}");
      if (!args || typeof args !== "object" || Array.isArray(args)) throw new Error("arguments are not a JSON object");
      toolCalls.push({ id: call.id, name: call.function.name, args: args as Record<string, unknown>, type: "tool_call" });
    } catch (err) {
      invalid.push({
        id: call.id,
        name: call.function.name,
        args: call.function.arguments,
        error: (err as Error).message,
        type: "invalid_tool_call",
      });
    }
  }
  return { toolCalls, invalid };
}

/** A whole completion as an AIMessage (tool calls parsed, usage attached). */
export function completionToMessage(completion: OpenAICompletion, responseMetadata: Record<string, unknown>): AIMessage {
  const choice = completion.choices?.[0];
  if (!choice?.message) throw new ChatZeroGError("CHAT_BAD_RESPONSE", "the completion has no message");
  const { toolCalls, invalid } = parseToolCalls(choice.message.tool_calls ?? []);
  const fields: AIMessageFields = {
    content: choice.message.content ?? "",
    tool_calls: toolCalls,
    invalid_tool_calls: invalid,
    // The provider's completion id is metadata, not the message id: ids need not be unique across providers.
    response_metadata: {
      ...responseMetadata,
      ...(completion.id ? { completion_id: completion.id } : {}),
      finish_reason: choice.finish_reason ?? null,
    },
  };
  // @langchain/core infers this field as `never` under exactOptionalPropertyTypes; it is a UsageMetadata.
  if (completion.usage) (fields as { usage_metadata?: UsageMetadata }).usage_metadata = usageMetadata(completion.usage);
  return new AIMessage(fields);
}

/** A streamed chunk of the OpenAI API. */
export interface OpenAIStreamChunk {
  id?: string;
  model?: string;
  choices?: {
    index?: number;
    finish_reason?: string | null;
    delta?: {
      role?: string;
      content?: string | null;
      tool_calls?: { index?: number; id?: string; type?: string; function?: { name?: string; arguments?: string } }[];
    };
  }[];
  usage?: OpenAIUsage | null;
}

/** One streamed delta as an AIMessageChunk (text and tool-call chunks, each call with its own index); undefined when it carries nothing. */
export function deltaToChunk(chunk: OpenAIStreamChunk): { message: AIMessageChunk; text: string } | undefined {
  const choice = chunk.choices?.[0];
  if (!choice) return undefined;
  const delta = choice.delta ?? {};
  const text = delta.content ?? "";
  const toolCallChunks: ToolCallChunk[] = (delta.tool_calls ?? []).map((t, i) => ({
    type: "tool_call_chunk",
    index: t.index ?? i,
    ...(t.id ? { id: t.id } : {}),
    ...(t.function?.name ? { name: t.function.name } : {}),
    args: t.function?.arguments ?? "",
  }));
  const finish = choice.finish_reason ?? undefined;
  if (text === "" && toolCallChunks.length === 0 && finish === undefined && delta.role === undefined) return undefined;
  return {
    text,
    message: new AIMessageChunk({
      content: text,
      tool_call_chunks: toolCallChunks,
      response_metadata: finish ? { finish_reason: finish } : {},
    }),
  };
}
