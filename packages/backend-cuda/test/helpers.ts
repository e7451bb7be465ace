import { CudaBackend, MockCompiler, MockDriver, type CudaBackendOptions, type MockDriverOptions } from "../src/index.js";

/**
 * The CUDA backend over the mock driver: the whole host side (allocator, argument blocks, stream,
 * events, CUDA graphs, the kernel loader) with every launch run by the interpreter. Kernels come
 * from the mock compiler unless `options.ptx` gives a PTX set.
 */
export async function mockBackend(options: CudaBackendOptions & { mock?: MockDriverOptions } = {}): Promise<{ backend: CudaBackend; driver: MockDriver; compiler: MockCompiler }> {
  const driver = new MockDriver(options.mock);
  const compiler = new MockCompiler();
  const backend = await CudaBackend.create({ ptx: null, compiler, ...options, driver });
  return { backend, driver, compiler };
}
