import type { AnyStorage, DType, Node, Tensor } from "@densessm/core";

/** Hands out output storage; recycled buffers may hold old values, so kernels overwrite every element. */
export type Allocator = (dtype: DType, length: number) => AnyStorage;

/** A node's kernel, specialised at compile time (index maps, strides) and run per execution. */
export type CompiledKernel = (inputs: readonly Tensor[], alloc: Allocator) => Tensor;

/** Builds a node's kernel from the node and its input nodes' static types. */
export type KernelFactory = (node: Node, inputs: readonly Node[]) => CompiledKernel;
