// Tests of the public kernel entry point used by the GEMM benchmark.

import Testing

@testable import CTR

@Test func entryPointMultipliesHandCase() {
  // [1 2 3; 4 5 6] * [1 0; 0 1; 1 1] = [4 5; 10 11], added to c = [1 1; 1 1].
  let a: [Float] = [1, 2, 3, 4, 5, 6]
  let b: [Float] = [1, 0, 0, 1, 1, 1]
  var c: [Float] = [1, 1, 1, 1]
  KernelEntryPoints.multiplyAccumulate(a, b, &c, m: 2, k: 3, n: 2)
  #expect(c == [5, 6, 11, 12])
}
