// The output bias refitted after training. At a minimum of the log loss, the gradient of the
// output bias is zero, so the predictions over the training rows sum to their clicks. A step
// size that decays over a few epochs stops short of that point by a few percent of the level,
// which the log loss hardly notices but a budget planner summing the predictions does.

/// The predictions of a model over its training rows, kept as a fine histogram of their log-odds,
/// and the shift of every logit that makes them sum to the rows' clicks.
///
/// Memory is fixed (about 1 MiB) however many rows are added. Each bin keeps its rows' count and
/// the sum of their log-odds, and counts its rows at their mean log-odds. Bins are 80/65,536
/// wide, about 0.0012, so by a second-order estimate the sum is off by at most 2 * 10^-7 of
/// itself. A bin whose rows share one value is exact.
public struct OutputBias: Sendable {
  static let bins = 65_536
  /// Log-odds beyond +/-limit go to the outermost bins.
  static let limit = 40.0

  private var counts = [Double](repeating: 0, count: OutputBias.bins)
  private var logOddsSums = [Double](repeating: 0, count: OutputBias.bins)
  /// Rows predicted at exactly 1, which stay at 1 under any finite shift.
  private var rowsAtOne = 0.0

  public init() {}

  /// Adds one row's prediction. A prediction of exactly 0 stays at 0 under any finite shift and
  /// adds nothing to the sum.
  public mutating func add(_ probability: Float) {
    let p = Double(probability)
    guard p > 0 else { return }
    guard p < 1 else {
      rowsAtOne += 1
      return
    }
    let logOdds = Math.logarithm(p) - Math.logarithmOnePlus(-p)
    let position = (min(max(logOdds, -Self.limit), Self.limit) + Self.limit) / (2 * Self.limit)
    let bin = min(Int(position * Double(Self.bins)), Self.bins - 1)
    counts[bin] += 1
    logOddsSums[bin] += logOdds
  }

  /// Returns the shift `u` of every logit for which the rows' predictions sum to `clicks`:
  /// `sum of sigmoid(logit + u) = clicks`. Returns nil when no finite shift does that, because
  /// `clicks` is 0 or the row count, or the rows at 0 and 1 rule it out.
  ///
  /// The sum rises with `u`, so Newton steps are kept inside a bracket that shrinks on every
  /// step.
  public func shift(clicks: Double) -> Double? {
    let filled = counts.indices.filter { counts[$0] > 0 }
    let means = filled.map { logOddsSums[$0] / counts[$0] }
    let weights = filled.map { counts[$0] }
    func total(_ u: Double) -> (sum: Double, slope: Double) {
      var sum = rowsAtOne
      var slope = 0.0
      for (mean, weight) in zip(means, weights) {
        let q = 1 / (1 + Math.exponential(-(mean + u)))
        sum += weight * q
        slope += weight * q * (1 - q)
      }
      return (sum, slope)
    }
    var low = -2 * Self.limit
    var high = 2 * Self.limit
    guard total(low).sum < clicks, total(high).sum > clicks else { return nil }
    var u = 0.0
    for _ in 0..<100 {
      let (sum, slope) = total(u)
      if abs(sum - clicks) <= 1e-9 * max(clicks, 1) { return u }
      if sum < clicks { low = u } else { high = u }
      let newton = slope > 0 ? u - (sum - clicks) / slope : .nan
      u = newton > low && newton < high ? newton : (low + high) / 2
      if high - low < 1e-12 { break }
    }
    return u
  }

  /// Returns ``shift(clicks:)`` for the rows `probabilities`.
  public static func shift(probabilities: [Float], clicks: Double) -> Double? {
    var histogram = OutputBias()
    for probability in probabilities { histogram.add(probability) }
    return histogram.shift(clicks: clicks)
  }
}
