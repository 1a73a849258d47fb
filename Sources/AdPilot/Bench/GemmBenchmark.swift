// GFLOP/s of the model's matrix-multiply kernel on given shapes, single-threaded, for comparison
// with numpy's sgemm in the same benchmark command.

import CTR
import Foundation

/// Times the CTR module's multiply-accumulate kernel.
public enum GemmBenchmark {
  /// Returns the best GFLOP/s of `repeats` timed runs of an `m x k` by `k x n` product.
  public static func gflops(m: Int, k: Int, n: Int, repeats: Int) -> Double {
    var random = SeededGenerator(seed: 3)
    let a = (0..<(m * k)).map { _ in Float.random(in: -1...1, using: &random) }
    let b = (0..<(k * n)).map { _ in Float.random(in: -1...1, using: &random) }
    var c = [Float](repeating: 0, count: m * n)
    KernelEntryPoints.multiplyAccumulate(a, b, &c, m: m, k: k, n: n)  // warm-up
    var best = Double.infinity
    for _ in 0..<max(repeats, 1) {
      let started = Date()
      KernelEntryPoints.multiplyAccumulate(a, b, &c, m: m, k: k, n: n)
      best = min(best, Date().timeIntervalSince(started))
    }
    return 2 * Double(m) * Double(k) * Double(n) / best / 1e9
  }
}
