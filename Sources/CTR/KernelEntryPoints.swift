// Public entry points to the dense kernels for benchmarks that compare them with other BLAS
// implementations. Training and scoring call the kernels directly, not through this file.

/// The matrix-multiply kernel the model uses, on whole arrays.
public enum KernelEntryPoints {
  /// Adds `a * b` to `c`: shapes `a [m x k]`, `b [k x n]`, `c [m x n]`, row-major, on the
  /// calling thread.
  public static func multiplyAccumulate(
    _ a: [Float], _ b: [Float], _ c: inout [Float], m: Int, k: Int, n: Int
  ) {
    precondition(a.count == m * k && b.count == k * n && c.count == m * n, "shape mismatch")
    a.withUnsafeBufferPointer { a in
      b.withUnsafeBufferPointer { b in
        c.withUnsafeMutableBufferPointer { c in
          guard let a = a.baseAddress, let b = b.baseAddress, let c = c.baseAddress else { return }
          Kernels.multiplyAccumulate(a, b, c, m: m, k: k, n: n)
        }
      }
    }
  }
}
