// Seeded pseudo-random numbers for the synthetic log generator: xoshiro256** seeded by SplitMix64.
// Output depends only on the seed (and the C library's log, cos and exp), never on the system
// generator, so a seed reproduces the same rows. Not for cryptographic use.

import Foundation

/// A deterministic random number generator (xoshiro256**, Blackman and Vigna 2018).
struct SyntheticRandom: RandomNumberGenerator {
  private var state: (UInt64, UInt64, UInt64, UInt64)

  /// Creates a generator whose four state words come from SplitMix64 over `seed` and `stream`.
  init(seed: UInt64, stream: UInt64 = 0) {
    var mixer = seed ^ (stream &* 0x9E37_79B9_7F4A_7C15)
    state = (
      Self.splitMix(&mixer), Self.splitMix(&mixer), Self.splitMix(&mixer), Self.splitMix(&mixer)
    )
  }

  private static func splitMix(_ x: inout UInt64) -> UInt64 {
    x &+= 0x9E37_79B9_7F4A_7C15
    var z = x
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  mutating func next() -> UInt64 {
    let result = rotate(state.1 &* 5, 7) &* 9
    let t = state.1 << 17
    state.2 ^= state.0
    state.3 ^= state.1
    state.1 ^= state.2
    state.0 ^= state.3
    state.2 ^= t
    state.3 = rotate(state.3, 45)
    return result
  }

  private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 {
    (x << k) | (x >> (64 - k))
  }

  /// Returns a uniform double in [0, 1) built from the top 53 bits.
  mutating func uniform() -> Double {
    Double(next() >> 11) * 0x1.0p-53
  }

  /// Returns a uniform integer in 0..<count (count > 0).
  mutating func index(_ count: Int) -> Int {
    Int(next(upperBound: UInt64(count)))
  }

  /// Returns true with probability `p`.
  mutating func bernoulli(_ p: Double) -> Bool {
    uniform() < p
  }

  /// Returns a standard normal draw (Box-Muller transform).
  mutating func normal() -> Double {
    let u1 = 1.0 - uniform()  // in (0, 1], so the logarithm is finite
    let u2 = uniform()
    return (-2.0 * log(u1)).squareRoot() * cos(2.0 * Double.pi * u2)
  }

  /// Returns a Poisson draw with mean `lambda` (Knuth's product method for small means,
  /// a rounded normal approximation above 30).
  mutating func poisson(_ lambda: Double) -> Int {
    if lambda <= 0 { return 0 }
    if lambda > 30 {
      return max(0, Int((lambda + lambda.squareRoot() * normal()).rounded()))
    }
    let limit = exp(-lambda)
    var product = uniform()
    var count = 0
    while product > limit {
      count += 1
      product *= uniform()
    }
    return count
  }
}
