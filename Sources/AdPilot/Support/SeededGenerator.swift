// A small deterministic random number generator (SplitMix64) so that shuffles and samples
// repeat exactly for a seed on every platform. Not for anything that needs secrecy.

/// SplitMix64 (Steele, Lea and Flood, 2014): a fast 64-bit generator with a full period.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
  private var state: UInt64

  public init(seed: UInt64) {
    state = seed
  }

  public mutating func next() -> UInt64 {
    state &+= 0x9e37_79b9_7f4a_7c15
    var z = state
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    return z ^ (z >> 31)
  }
}

/// Returns the 64-bit FNV-1a hash of `bytes`, stable across runs and platforms.
public func fnv1a64<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt64 {
  var hash: UInt64 = 0xcbf2_9ce4_8422_2325
  for byte in bytes {
    hash ^= UInt64(byte)
    hash = hash &* 0x100_0000_01b3
  }
  return hash
}

/// Returns the FNV-1a hash of a string's UTF-8 bytes.
public func stableHash(_ text: String) -> UInt64 {
  fnv1a64(text.utf8)
}
