// The seeded random generator behind weight initialization (SplitMix64, Steele et al. 2014).
// Deterministic on every platform; it must never be replaced by SystemRandomNumberGenerator.

/// SplitMix64: a 64-bit generator with a fixed, platform-independent sequence per seed.
struct SplitMix64: RandomNumberGenerator, Sendable {
  private var state: UInt64

  init(seed: UInt64) {
    state = seed
  }

  mutating func next() -> UInt64 {
    state &+= 0x9e37_79b9_7f4a_7c15
    var z = state
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    return z ^ (z >> 31)
  }

  /// Returns a Float in `range`, from the top 24 bits of the next output.
  mutating func nextFloat(in range: Range<Float>) -> Float {
    let unit = Float(next() >> 40) * (1 / Float(1 << 24))
    return range.lowerBound + unit * (range.upperBound - range.lowerBound)
  }
}
