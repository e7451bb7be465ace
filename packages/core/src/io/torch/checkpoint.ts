import { FormatError } from "../../errors.js";
import { formatShape, stridesOf } from "../../tensor/shape.js";
import { Tensor } from "../../tensor/tensor.js";
import type { RandomAccessFile } from "../random-access.js";
import { narrowInt64 } from "../safetensors.js";
import { describe, PyTuple, unpickle } from "./pickle.js";
import { isZip, readEntry, readZipDirectory, type ZipEntry } from "./zip.js";

// pytorch_model.bin as torch.save (≥ 1.6) writes it: a zip holding `<archive>/data.pkl`, a pickle
// of the state dict in which every tensor is `_rebuild_tensor_v2(storage, offset, size, stride,
// ...)` with the storage a persistent id ("storage", torch.FloatStorage, key, location, numel),
// and `<archive>/data/<key>`, the storages' raw little-endian bytes. Tensors may view part of a
// storage, with any strides, and several tensors may share one (tied weights).

/** Element types of the storages we read, by torch's legacy storage class name. */
const STORAGES: Record<string, { code: string; bytes: number } | undefined> = {
  FloatStorage: { code: "F32", bytes: 4 },
  HalfStorage: { code: "F16", bytes: 2 },
  BFloat16Storage: { code: "BF16", bytes: 2 },
  LongStorage: { code: "I64", bytes: 8 },
  IntStorage: { code: "I32", bytes: 4 },
  CharStorage: { code: "I8", bytes: 1 },
  ByteStorage: { code: "U8", bytes: 1 },
  BoolStorage: { code: "BOOL", bytes: 1 },
};

/** The only globals a checkpoint may name (torch.load(weights_only=True) allows no more). */
export const ALLOWED_GLOBALS: readonly string[] = ["torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter", "torch.*Storage", "collections.OrderedDict", "torch.Size"];

class StorageType {
  constructor(readonly name: string) {}
}

interface Storage {
  readonly key: string;
  readonly type: StorageType;
  readonly numel: number;
}

class TensorView {
  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
  ) {}
}

/** One tensor of a torch checkpoint, as its header (the pickle) describes it. */
export interface TorchTensor {
  readonly name: string;
  /** F32, F16, BF16, I64, I32, I8, U8 or BOOL. */
  readonly code: string;
  readonly shape: readonly number[];
}

/** A parsed, validated pytorch_model.bin whose storages have not been read yet. */
export interface TorchCheckpoint {
  readonly tensors: readonly TorchTensor[];
  /** Reads the storages one at a time (in file order), handing over each tensor as it is built. */
  read(emit: (name: string, tensor: Tensor) => void): Promise<void>;
}

/** Largest tensor we build: a JS typed array's limit, and far past any checkpoint tensor. */
const MAX_ELEMENTS = 2 ** 32 - 1;

/**
 * Opens a torch checkpoint: reads the zip directory and the pickle (without executing anything:
 * a global outside ALLOWED_GLOBALS is an error naming it) and checks every tensor against its
 * storage before any storage is read.
 */
export async function openTorchCheckpoint(file: RandomAccessFile): Promise<TorchCheckpoint> {
  const fail = (problem: string) => new FormatError(`${file.where}: ${problem}`);
  const first = await file.read(0, Math.min(file.size, 16));
  if (!isZip(first)) {
    if (first[0] === 0x80 && first[1] !== undefined && first[1] <= 5) throw fail("a legacy (torch < 1.6) checkpoint, which is not read; re-save it with a current torch: torch.save(torch.load(path), path)");
    throw fail("not a torch checkpoint (torch.save writes a zip archive; this file is not one)");
  }
  const entries = await readZipDirectory(file);
  const pickles = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pickles.length !== 1) {
    if ([...entries.keys()].some((n) => n.endsWith("/constants.pkl"))) throw fail("a TorchScript archive (torch.jit.save), not a state dict saved with torch.save");
    throw fail(pickles.length ? `holds ${pickles.length} data.pkl records; expected one` : "no data.pkl record: not a checkpoint written by torch.save");
  }
  const prefix = pickles[0]!.slice(0, -"data.pkl".length);
  const byteorder = entries.get(`${prefix}byteorder`);
  if (byteorder) {
    const order = new TextDecoder().decode(await readEntry(file, byteorder)).trim();
    if (order !== "little") throw fail(`storages are ${order}-endian; only little-endian checkpoints are read`);
  }
  const where = `${file.where}: ${pickles[0]}`;
  const storages = new Map<string, Storage>();
  const state = unpickle(await readEntry(file, entries.get(pickles[0]!)!), {
    where,
    resolveGlobal: (module, name) => allowedGlobal(module, name, where),
    persistentLoad: (pid) => storageOf(pid, storages, where),
    build(target, buildState) {
      // OrderedDict's state is its attributes (a state dict's `_metadata`): nothing we need.
      if (!(target instanceof Map) || !(buildState instanceof Map || buildState === null)) throw new FormatError(`${where}: BUILD sets the state of a ${describe(target)}, which a state dict never does`);
    },
  });
  if (!(state instanceof Map)) throw new FormatError(`${where}: holds a ${describe(state)}, not a state dict (a dict of tensors)`);

  const views = new Map<string, TensorView>();
  for (const [name, value] of state) {
    if (typeof name !== "string") throw new FormatError(`${where}: a state dict key is a ${describe(name)}, not a name`);
    if (!(value instanceof TensorView)) throw new FormatError(`${where}: "${name}" is a ${describe(value)}, not a tensor; pass the model's state_dict() to torch.save`);
    views.set(name, value);
  }
  const tensors: TorchTensor[] = [];
  const byStorage = new Map<string, [string, TensorView][]>();
  for (const [name, view] of views) {
    const type = STORAGES[view.storage.type.name];
    if (!type) throw fail(`tensor "${name}" is stored as torch.${view.storage.type.name}, which is not read (supported: ${Object.keys(STORAGES).map((s) => `torch.${s}`).join(", ")})`);
    const entry = entries.get(`${prefix}data/${view.storage.key}`);
    if (!entry) throw fail(`tensor "${name}": its storage ${prefix}data/${view.storage.key} is missing from the archive`);
    checkView(name, view, type.bytes, entry, file.where);
    tensors.push({ name, code: type.code, shape: view.shape });
    const list = byStorage.get(view.storage.key) ?? [];
    list.push([name, view]);
    byStorage.set(view.storage.key, list);
  }
  const order = [...byStorage.keys()].sort((a, b) => entries.get(`${prefix}data/${a}`)!.headerOffset - entries.get(`${prefix}data/${b}`)!.headerOffset);
  return {
    tensors,
    async read(emit) {
      for (const key of order) {
        const entry = entries.get(`${prefix}data/${key}`)!;
        const bytes = await readEntry(file, entry);
        // Identical views of one storage (a tied weight saved under two names) become one tensor.
        const built = new Map<string, Tensor>();
        for (const [name, view] of byStorage.get(key)!) {
          const id = `${view.offset}:${view.shape.join(",")}:${view.stride.join(",")}`;
          let t = built.get(id);
          if (!t) built.set(id, (t = materialize(bytes, view, `${file.where}: tensor "${name}"`)));
          emit(name, t);
        }
      }
    },
  };
}

function allowedGlobal(module: string, name: string, where: string): unknown {
  const full = `${module}.${name}`;
  if (module === "torch" && /^[A-Za-z0-9]+Storage$/.test(name)) return new StorageType(name);
  switch (full) {
    case "torch._utils._rebuild_tensor_v2":
      return (args: readonly unknown[]) => rebuildTensor(args, where);
    case "torch._utils._rebuild_parameter":
      return (args: readonly unknown[]) => {
        if (!(args[0] instanceof TensorView)) throw new FormatError(`${where}: _rebuild_parameter of a ${describe(args[0])}, not a tensor`);
        return args[0];
      };
    case "collections.OrderedDict":
      return (args: readonly unknown[]) => {
        if (args.length !== 0) throw new FormatError(`${where}: OrderedDict built from arguments, which torch.save never writes`);
        return new Map();
      };
    case "torch.Size":
      return (args: readonly unknown[]) => {
        if (!(args[0] instanceof PyTuple)) throw new FormatError(`${where}: torch.Size of a ${describe(args[0])}`);
        return args[0];
      };
    default:
      throw new FormatError(`${where}: the pickle references ${full}, which a checkpoint may not use (allowed: ${ALLOWED_GLOBALS.join(", ")}); refusing to load it`);
  }
}

function storageOf(pid: unknown, storages: Map<string, Storage>, where: string): Storage {
  const items = pid instanceof PyTuple ? pid.items : [];
  const [tag, type, key, , numel] = items;
  if (items.length !== 5 || tag !== "storage" || !(type instanceof StorageType) || typeof key !== "string" || typeof numel !== "number" || !Number.isSafeInteger(numel) || numel < 0) {
    throw new FormatError(`${where}: a persistent id is not a torch storage reference ("storage", type, key, location, numel)`);
  }
  const known = storages.get(key);
  if (known) {
    if (known.type.name !== type.name || known.numel !== numel) throw new FormatError(`${where}: storage ${key} is described twice, differently`);
    return known;
  }
  const storage = { key, type, numel };
  storages.set(key, storage);
  return storage;
}

function rebuildTensor(args: readonly unknown[], where: string): TensorView {
  const [storage, offset, size, stride] = args;
  const ints = (v: unknown) => (v instanceof PyTuple && v.items.length <= 16 && v.items.every((d) => typeof d === "number" && Number.isSafeInteger(d) && d >= 0) ? (v.items as number[]) : undefined);
  const shape = ints(size);
  const strides = ints(stride);
  if (!storage || typeof storage !== "object" || !("key" in storage) || !(storage as Storage).type) throw new FormatError(`${where}: _rebuild_tensor_v2 of a ${describe(storage)}, not a storage`);
  if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0) throw new FormatError(`${where}: a tensor has storage offset ${String(offset)}`);
  if (!shape || !strides || shape.length !== strides.length) throw new FormatError(`${where}: a tensor has an invalid size ${describe(size)} / stride ${describe(stride)}`);
  return new TensorView(storage as Storage, offset, shape, strides);
}

/** Checks a view against its storage and the storage against its archive entry, before any read. */
function checkView(name: string, view: TensorView, elementBytes: number, entry: ZipEntry, where: string): void {
  const what = `${where}: tensor "${name}" ${formatShape(view.shape)}`;
  let count = 1;
  for (const d of view.shape) {
    count *= d;
    if (count > MAX_ELEMENTS) throw new FormatError(`${what}: its shape's product overflows (over ${MAX_ELEMENTS} elements)`);
  }
  // The furthest element it reads: offset + Σ (size_i - 1) · stride_i.
  let last = view.offset;
  if (count > 0) view.shape.forEach((d, i) => (last += (d - 1) * view.stride[i]!));
  if (count > 0 && (!Number.isSafeInteger(last) || last >= view.storage.numel)) {
    throw new FormatError(`${what}: needs storage elements up to ${last}, its storage ${view.storage.key} holds ${view.storage.numel}`);
  }
  if (view.storage.numel * elementBytes > entry.size) {
    throw new FormatError(`${what}: its storage ${view.storage.key} claims ${view.storage.numel} elements (${view.storage.numel * elementBytes} bytes), the archive holds ${entry.size} bytes`);
  }
}

/** A view of a storage's bytes as a dense row-major tensor (copied unless it is the whole storage). */
function materialize(bytes: Uint8Array, view: TensorView, what: string): Tensor {
  const type = STORAGES[view.storage.type.name]!;
  const eb = type.bytes;
  const count = view.shape.reduce((a, b) => a * b, 1);
  const rowMajor = stridesOf(view.shape);
  const contiguous = count <= 1 || view.stride.every((s, i) => view.shape[i] === 1 || s === rowMajor[i]);
  let dense: Uint8Array;
  if (contiguous) {
    const raw = bytes.subarray(view.offset * eb, (view.offset + count) * eb);
    dense = raw.byteOffset === 0 && raw.length === raw.buffer.byteLength ? raw : raw.slice();
  } else {
    dense = new Uint8Array(count * eb);
    const rank = view.shape.length;
    const index = new Array<number>(rank).fill(0);
    let src = view.offset;
    for (let i = 0; i < count; i++) {
      dense.set(bytes.subarray(src * eb, (src + 1) * eb), i * eb);
      for (let d = rank - 1; d >= 0; d--) {
        if (++index[d]! < view.shape[d]!) {
          src += view.stride[d]!;
          break;
        }
        src -= (view.shape[d]! - 1) * view.stride[d]!;
        index[d] = 0;
      }
    }
  }
  const { shape } = view;
  switch (type.code) {
    case "F32":
      return new Tensor(new Float32Array(dense.buffer, 0, count), shape, "float32");
    case "F16":
      return new Tensor(new Uint16Array(dense.buffer, 0, count), shape, "float16");
    case "BF16":
      return new Tensor(new Uint16Array(dense.buffer, 0, count), shape, "bfloat16");
    case "I32":
      return new Tensor(new Int32Array(dense.buffer, 0, count), shape, "int32");
    case "I64":
      return new Tensor(narrowInt64(new BigInt64Array(dense.buffer, 0, count), what), shape, "int32");
    case "I8":
      return new Tensor(new Int8Array(dense.buffer, 0, count), shape, "int8");
    case "U8":
      return new Tensor(new Uint8Array(dense.buffer, 0, count), shape, "uint8");
    default:
      return new Tensor(Int32Array.from(dense, (b) => (b ? 1 : 0)), shape, "int32");
  }
}
