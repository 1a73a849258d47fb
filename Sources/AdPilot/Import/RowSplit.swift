// Fixed, seeded train/test assignment of a row by its number, for logs without a time order.
// The assignment depends only on the row number and the seed, never on the row's values.

/// A seeded 80/20 train/test assignment by row number.
public enum RowSplit {
  /// Returns "test" for about one row in five and "train" for the rest.
  ///
  /// The row number and seed go through the SplitMix64 finalizer (Steele, Lea and Flood,
  /// "Fast splittable pseudorandom number generators", OOPSLA 2014), and a row is a test row when
  /// the mixed value is 0 modulo 5.
  public static func split(row: Int, seed: UInt64) -> String {
    mix(seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(bitPattern: Int64(row) &+ 1)) % 5 == 0
      ? "test" : "train"
  }

  static func mix(_ value: UInt64) -> UInt64 {
    var z = value
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
