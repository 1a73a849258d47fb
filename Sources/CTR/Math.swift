// Elementary functions for the CTR module from the C library (the standard library has none).
// Foundation stays out of this module, so the scoring extension carries no ICU.

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Elementary functions used by the model code, named apart from the C ones they call.
enum Math {
  @inline(__always) static func logarithm2(_ x: Double) -> Double { log2(x) }
  @inline(__always) static func logarithm(_ x: Double) -> Double { log(x) }
  @inline(__always) static func logarithm(_ x: Float) -> Float { logf(x) }
  @inline(__always) static func logarithmOnePlus(_ x: Float) -> Float { log1pf(x) }
  @inline(__always) static func logarithmOnePlus(_ x: Double) -> Double { log1p(x) }
  @inline(__always) static func exponential(_ x: Float) -> Float { expf(x) }
  @inline(__always) static func exponential(_ x: Double) -> Double { exp(x) }
}
