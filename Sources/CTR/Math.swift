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

/// The floating-point mode of the model code.
enum FloatMode {
  /// Runs `body` with subnormal Float and Double results flushed to zero and subnormal inputs
  /// read as zero (the FTZ and DAZ bits of x86's MXCSR), then restores the thread's mode.
  ///
  /// Arithmetic on subnormal values is slow on some x86 cores: on an Intel Xeon, training slowed
  /// about fifteen-fold once subnormal values appeared in its matrix products. The mode is per
  /// thread, so every thread that runs model code sets it. Other CPUs run `body` unchanged.
  @inline(__always)
  static func flushingSubnormals<T>(_ body: () -> T) -> T {
    #if arch(x86_64) && canImport(Glibc)
      var saved = fenv_t()
      fegetenv(&saved)
      var flushed = saved
      flushed.__mxcsr |= 0x8040
      fesetenv(&flushed)
      defer { fesetenv(&saved) }
    #endif
    return body()
  }
}
