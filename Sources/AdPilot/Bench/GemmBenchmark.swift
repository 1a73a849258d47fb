// GFLOP/s of the model's matrix-multiply kernel on given shapes, single-threaded, for comparison
// with numpy's sgemm in the same benchmark command.

import CTR
import Foundation

/// Times the CTR module's multiply-accumulate kernel.
public enum GemmBenchmark {
  /// Returns the best GFLOP/s of `repeats` timed runs of an `m x k` by `k x n` product.
  ///
  /// A product of fewer than 10 million floating-point operations is timed as many products
  /// in a row, enough for 10 million, so that the clock can measure a run.
  public static func gflops(m: Int, k: Int, n: Int, repeats: Int) -> Double {
    var random = SeededGenerator(seed: 3)
    let a = (0..<(m * k)).map { _ in Float.random(in: -1...1, using: &random) }
    let b = (0..<(k * n)).map { _ in Float.random(in: -1...1, using: &random) }
    var c = [Float](repeating: 0, count: m * n)
    KernelEntryPoints.multiplyAccumulate(a, b, &c, m: m, k: k, n: n)  // warm-up
    let operations = 2 * Double(m) * Double(k) * Double(n)
    let products = max(1, Int(10_000_000 / operations))
    var best = UInt64.max
    for _ in 0..<max(repeats, 1) {
      let started = DispatchTime.now().uptimeNanoseconds
      for _ in 0..<products {
        KernelEntryPoints.multiplyAccumulate(a, b, &c, m: m, k: k, n: n)
      }
      best = min(best, DispatchTime.now().uptimeNanoseconds - started)
    }
    return operations * Double(products) / Double(max(best, 1))
  }
}
