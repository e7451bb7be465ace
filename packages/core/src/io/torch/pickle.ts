import { FormatError } from "../../errors.js";

// A restricted unpickler: it interprets the opcodes torch.save emits (protocol 2, plus the few of
// protocols 3-5 a newer pickler may use) and builds plain values. It never imports or calls
// anything by name: every GLOBAL goes through `resolveGlobal`, which returns the stand-in for an
// allowed name or throws. This is the guarantee torch.load(weights_only=True) gives.

/** A Python tuple (kept apart from lists, which pickles build by appending). */
export class PyTuple {
  constructor(readonly items: readonly unknown[]) {}
}

/** What REDUCE may call: an allowed global's stand-in. */
export type PyCallable = (args: readonly unknown[]) => unknown;

export interface UnpickleOptions {
  /** Where the pickle comes from, for messages (e.g. "model.bin: archive/data.pkl"). */
  readonly where: string;
  /** The stand-in for `module.name`, or a thrown FormatError naming it. */
  resolveGlobal(module: string, name: string): unknown;
  /** What a persistent id (BINPERSID) stands for. */
  persistentLoad(pid: unknown): unknown;
  /** BUILD on a value REDUCE made (e.g. an OrderedDict's attributes); throw to refuse. */
  build?(target: unknown, state: unknown): void;
}

/** Runs a pickle to its STOP and returns the value it built. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): unknown {
  const { where } = options;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let p = 0;

  const fail = (problem: string): FormatError => new FormatError(`${where}: ${problem}`);
  const need = (n: number, what: string): number => {
    if (!Number.isSafeInteger(n) || n < 0 || p + n > bytes.length) throw fail(`${what} at byte ${p} runs past the end of the pickle (${bytes.length} bytes; truncated file?)`);
    const at = p;
    p += n;
    return at;
  };
  const u8 = () => bytes[need(1, "an argument")]!;
  const u16 = () => view.getUint16(need(2, "an argument"), true);
  const u32 = () => view.getUint32(need(4, "an argument"), true);
  const u64 = (): number => {
    const v = view.getBigUint64(need(8, "an argument"), true);
    if (v > BigInt(bytes.length)) throw fail(`length ${v} at byte ${p - 8} is longer than the pickle`);
    return Number(v);
  };
  const raw = (n: number) => bytes.subarray(need(n, `a ${n}-byte string`), p);
  const text = (n: number): string => {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(raw(n));
    } catch (e) {
      if (e instanceof FormatError) throw e;
      throw fail(`a string at byte ${p - n} is not UTF-8`);
    }
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, p);
    if (end < 0) throw fail(`a GLOBAL name at byte ${p} has no end of line (truncated file?)`);
    return text(end - p + 1).slice(0, -1);
  };
  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1]!)) throw fail(`the pickle pops an empty stack at byte ${p - 1}`);
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) throw fail(`the pickle reads an empty stack at byte ${p - 1}`);
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const at = marks.pop();
    if (at === undefined) throw fail(`the pickle closes a MARK it never opened at byte ${p - 1}`);
    return stack.splice(at);
  };
  const asMap = (value: unknown, op: string): Map<unknown, unknown> => {
    if (!(value instanceof Map)) throw fail(`${op} at byte ${p - 1} targets a ${describe(value)}, not a dict`);
    return value;
  };
  const asList = (value: unknown, op: string): unknown[] => {
    if (!Array.isArray(value)) throw fail(`${op} at byte ${p - 1} targets a ${describe(value)}, not a list`);
    return value;
  };
  const key = (k: unknown): unknown => {
    if (typeof k === "string" || typeof k === "number" || typeof k === "bigint" || typeof k === "boolean" || k === null) return k;
    throw fail(`a dict key at byte ${p - 1} is a ${describe(k)}; state dicts are keyed by names`);
  };
  const setItems = (map: Map<unknown, unknown>, items: readonly unknown[]) => {
    if (items.length % 2) throw fail(`SETITEMS at byte ${p - 1} has an odd number of items`);
    for (let i = 0; i < items.length; i += 2) map.set(key(items[i]), items[i + 1]);
  };
  const integer = (n: number, signed: boolean): number | bigint => {
    if (n === 0) return 0;
    let v = 0n;
    const at = need(n, "a long integer");
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[at + i]!);
    if (signed && bytes[at + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  while (p < bytes.length) {
    const at = p;
    const op = bytes[p++]!;
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) throw fail(`pickle protocol ${bytes[p - 1]} is newer than 5`);
        break;
      case 0x95: // FRAME: a length hint only
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1 || marks.length) throw fail(`the pickle stops with ${stack.length} values on its stack (corrupt file)`);
        return stack[0];
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x74: // TUPLE
        stack.push(new PyTuple(popMark()));
        break;
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: {
        // TUPLE3
        const items = Array.from({ length: op - 0x84 }, pop).reverse();
        stack.push(new PyTuple(items));
        break;
      }
      case 0x4a: // BININT
        stack.push(view.getInt32(need(4, "an argument"), true));
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(integer(u8(), true));
        break;
      case 0x8b: {
        // LONG4
        const n = view.getInt32(need(4, "an argument"), true);
        if (n < 0 || n > 64) throw fail(`a ${n}-byte integer at byte ${at} is not one a checkpoint holds`);
        stack.push(integer(n, true));
        break;
      }
      case 0x58: // BINUNICODE
        stack.push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(u64()));
        break;
      case 0x54: // BINSTRING
        stack.push(text(u32()));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(text(u8()));
        break;
      case 0x42: // BINBYTES
        stack.push(raw(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(raw(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
        stack.push(raw(u64()).slice());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x47: // BINFLOAT (big-endian)
        stack.push(view.getFloat64(need(8, "an argument"), false));
        break;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        stack.push(options.resolveGlobal(module, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") throw fail(`STACK_GLOBAL at byte ${at} names a global with non-strings`);
        stack.push(options.resolveGlobal(module, name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const callable = pop();
        if (typeof callable !== "function") throw fail(`REDUCE at byte ${at} calls a ${describe(callable)}, not an allowed global`);
        if (!(args instanceof PyTuple)) throw fail(`REDUCE at byte ${at} has arguments that are not a tuple`);
        stack.push((callable as PyCallable)(args.items));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const target = top();
        if (!options.build) throw fail(`BUILD at byte ${at} sets the state of a ${describe(target)}, which a state dict never does`);
        options.build(target, state);
        break;
      }
      case 0x73: {
        // SETITEM
        const value = pop();
        const k = pop();
        asMap(top(), "SETITEM").set(key(k), value);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(asMap(top(), "SETITEMS"), items);
        break;
      }
      case 0x61: {
        // APPEND
        const value = pop();
        asList(top(), "APPEND").push(value);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const list = asList(top(), "APPENDS");
        for (const item of items) list.push(item);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const index = op === 0x68 ? u8() : u32();
        if (!memo.has(index)) throw fail(`the pickle reads memo ${index}, which it never stored (byte ${at})`);
        stack.push(memo.get(index));
        break;
      }
      case 0x51: // BINPERSID
        stack.push(options.persistentLoad(pop()));
        break;
      case 0x30: // POP
        if (marks.length && marks[marks.length - 1] === stack.length) marks.pop();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      default:
        throw fail(`opcode 0x${op.toString(16).padStart(2, "0")} at byte ${at} is not one torch.save writes for a state dict`);
    }
  }
  throw fail(`the pickle ends at byte ${bytes.length} without STOP (truncated file?)`);
}

/** A value's kind, in Python's words, for messages. */
export function describe(value: unknown): string {
  if (value === null) return "None";
  if (value instanceof PyTuple) return "tuple";
  if (value instanceof Map) return "dict";
  if (Array.isArray(value)) return "list";
  if (value instanceof Uint8Array) return "bytes";
  if (typeof value === "function") return "global";
  if (typeof value === "object") return (value as object).constructor?.name ?? "object";
  return typeof value === "string" ? "str" : typeof value === "boolean" ? "bool" : typeof value === "number" || typeof value === "bigint" ? "number" : typeof value;
}
