// OpenAI chat requests as node-llama-cpp sees them: tools as functions (their parameters as grammar-ready
// schemas), and messages (tool calls and tool results included) as a chat history.
import type { ChatHistoryItem, ChatModelFunctionCall, ChatModelFunctions, ChatModelResponse, GbnfJsonSchema } from "node-llama-cpp";
import { badRequest, messageText, type ChatBody, type ChatMessage } from "../backend.js";
import { isObject, toGbnfSchema } from "./llama-json-schema.js";

/** Tool results and call arguments are JSON when they parse, text otherwise. */
export function parseMaybeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** OpenAI tools (and tool_choice) as node-llama-cpp functions, without handlers: calls go back to the client. */
export function toFunctions(body: ChatBody): ChatModelFunctions | undefined {
  const tools = body.tools ?? [];
  if (tools.length === 0 || body.tool_choice === "none") return undefined;
  let chosen = tools;
  if (typeof body.tool_choice === "object") {
    const name = body.tool_choice.function.name;
    chosen = tools.filter((t) => t.function.name === name);
    if (chosen.length === 0) throw badRequest(`tool_choice names ${name}, which is not among the tools`);
  }
  const functions: Record<string, { description?: string; params?: GbnfJsonSchema }> = {};
  for (const tool of chosen) {
    const { name, description, parameters } = tool.function;
    if (Object.hasOwn(functions, name)) throw badRequest(`tool ${name} is defined twice`);
    // `{ type: "object", properties: {} }` is OpenAI's way of saying "no arguments".
    const noArguments =
      parameters === undefined ||
      (parameters.type === "object" &&
        Object.keys((parameters.properties as object | undefined) ?? {}).length === 0 &&
        parameters.additionalProperties !== true &&
        !isObject(parameters.additionalProperties));
    const hasParams = !noArguments;
    functions[name] = {
      ...(description === undefined ? {} : { description }),
      ...(hasParams ? { params: toGbnfSchema(parameters, tool.function.strict === true, `tools[${name}].parameters`) } : {}),
    };
  }
  return functions;
}

/**
 * OpenAI messages as a node-llama-cpp chat history. An assistant message's tool calls become function calls of
 * a model response, with their results taken from the tool messages that follow; an assistant message after
 * tool results continues that model response (node-llama-cpp's own shape), and a conversation that ends with
 * tool results is continued by the model in that same response.
 */
export function toChatHistory(messages: ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  let pending: Map<string, ChatModelFunctionCall> | undefined;
  const unanswered = () => {
    if (pending && pending.size > 0) throw badRequest(`tool calls without a tool message: ${[...pending.keys()].join(", ")}`);
    pending = undefined;
  };
  for (const m of messages) {
    const text = messageText(m);
    switch (m.role) {
      case "system":
      case "developer":
        unanswered();
        history.push({ type: "system", text });
        break;
      case "user":
        unanswered();
        history.push({ type: "user", text });
        break;
      case "assistant": {
        unanswered();
        const last = history.at(-1);
        const continues =
          last?.type === "model" &&
          typeof last.response.at(-1) === "object" &&
          (last.response.at(-1) as { type?: string }).type === "functionCall";
        const item: ChatModelResponse = continues ? (last as ChatModelResponse) : { type: "model", response: [] };
        if (text !== "") item.response.push(text);
        const calls = m.tool_calls ?? [];
        if (calls.length > 0) {
          pending = new Map();
          for (const call of calls) {
            const fc: ChatModelFunctionCall = {
              type: "functionCall",
              name: call.function.name,
              params: parseMaybeJson(call.function.arguments),
              result: undefined,
            };
            if (pending.has(call.id)) throw badRequest(`tool call id ${call.id} is used twice`);
            pending.set(call.id, fc);
            item.response.push(fc);
          }
        }
        if (!continues) history.push(item);
        break;
      }
      case "tool": {
        if (!pending || pending.size === 0) throw badRequest("a tool message must answer a tool call of the assistant message before it");
        const id = m.tool_call_id ?? (pending.size === 1 ? [...pending.keys()][0] : undefined);
        const fc = id === undefined ? undefined : pending.get(id);
        if (!fc || id === undefined) throw badRequest(`tool message answers an unknown tool call ${m.tool_call_id ?? "(no tool_call_id)"}`);
        fc.result = parseMaybeJson(text);
        pending.delete(id);
        break;
      }
    }
  }
  unanswered();
  return history;
}
