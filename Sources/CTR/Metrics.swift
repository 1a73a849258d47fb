// Offline CTR metrics: AUC, gAUC, log loss, normalized entropy, calibration, reliability,
// precision, recall and F1 at a threshold.
// All sums run in Double in row order, so a report is reproducible bit for bit.

/// One bin of a reliability table: rows whose prediction falls in `lowerBound..<upperBound`.
public struct ReliabilityBin: Sendable, Equatable {
  public var lowerBound: Double
  public var upperBound: Double
  public var count: Int
  /// The mean prediction of the bin's rows, 0 when the bin is empty.
  public var meanPrediction: Double
  /// The click rate of the bin's rows, 0 when the bin is empty.
  public var observedRate: Double
}

/// Precision, recall and F1 of predicting a click when pCTR reaches a threshold.
public struct ThresholdReport: Sendable, Equatable {
  public var threshold: Double
  /// Rows whose prediction reaches the threshold.
  public var predictedPositives: Int
  /// True positives over predicted positives; nil when no row reaches the threshold.
  public var precision: Double?
  /// True positives over positives; nil without positives.
  public var recall: Double?
  /// 2 TP / (2 TP + FP + FN), the harmonic mean of precision and recall where both exist. It is
  /// 0 without true positives, and nil when no row is a click or reaches the threshold.
  public var f1: Double?
}

/// The figures of one evaluation.
public struct EvaluationReport: Sendable, Equatable {
  /// The number of rows.
  public var count: Int
  /// The sum of labels.
  public var clicks: Double
  /// ROC AUC; nil when all labels are equal.
  public var auc: Double?
  /// The 95 % confidence interval of `auc` by DeLong's method, clipped to [0, 1]; nil with `auc`.
  public var aucInterval: ClosedRange<Double>?
  /// Impression-weighted mean of per-group AUC over groups with both classes, leaving out rows
  /// in ``Metrics/noGroup``; nil without any such group.
  public var gauc: Double?
  /// The number of groups that entered gAUC.
  public var gaucGroups: Int
  /// Mean binary cross-entropy in nats, predictions clipped to [1e-7, 1 - 1e-7].
  public var logLoss: Double
  /// Log loss divided by the entropy of the evaluated rows' click rate, so 1 is the loss of always
  /// predicting that rate. Nil when the rate is 0 or 1.
  public var normalizedEntropy: Double?
  /// Sum of predictions over sum of labels; nil without clicks.
  public var calibration: Double?
  /// Up to ten bins of equal row count, ordered by prediction.
  public var reliability: [ReliabilityBin]
  /// Precision, recall and F1 at the threshold passed to ``Metrics/evaluate``; nil without one.
  public var classification: ThresholdReport?
}

/// Offline metrics over predictions and 0/1 labels.
public enum Metrics {
  /// The clipping bound of log loss.
  public static let epsilon = 1e-7

  /// The group of rows that belong to no group, such as impressions without a user id. gAUC
  /// leaves these rows out, because they are not one user's impressions, and as one group they
  /// would outweigh the real users.
  public static let noGroup: UInt64 = 0

  /// Computes every figure; `groups` (for example user ids) enables gAUC, and `threshold`
  /// precision, recall and F1.
  public static func evaluate(
    predictions: [Float], labels: [Float], groups: [UInt64]?, threshold: Double? = nil
  ) -> EvaluationReport {
    requireSameCount(predictions.count, labels.count, "labels")
    let clicks = labels.reduce(0.0) { $0 + Double($1) }
    let loss = logLoss(predictions: predictions, labels: labels)
    let predicted = predictions.reduce(0.0) { $0 + Double($1) }
    var entropy: Double? = nil
    if !predictions.isEmpty {
      let rate = clicks / Double(predictions.count)
      if rate > 0 && rate < 1 {
        entropy = -(rate * Math.logarithm(rate) + (1 - rate) * Math.logarithm(1 - rate))
      }
    }
    let grouped = groups.map { gauc(predictions: predictions, labels: labels, groups: $0) }
    return EvaluationReport(
      count: predictions.count,
      clicks: clicks,
      auc: auc(predictions: predictions, labels: labels),
      aucInterval: aucInterval(predictions: predictions, labels: labels),
      gauc: grouped?.value,
      gaucGroups: grouped?.groups ?? 0,
      logLoss: loss,
      normalizedEntropy: entropy.map { loss / $0 },
      calibration: clicks > 0 ? predicted / clicks : nil,
      reliability: reliability(predictions: predictions, labels: labels),
      classification: threshold.map {
        classification(predictions: predictions, labels: labels, threshold: $0)
      })
  }

  /// Returns ROC AUC by the Mann-Whitney U statistic with tied predictions given their average
  /// rank; nil when all labels are equal. Labels > 0.5 count as positive.
  public static func auc(predictions: [Float], labels: [Float]) -> Double? {
    requireSameCount(predictions.count, labels.count, "labels")
    let order = predictions.indices.sorted { predictions[$0] < predictions[$1] }
    return auc(order: order[...], predictions: predictions, labels: labels)
  }

  /// AUC over the rows `order`, sorted by ascending prediction.
  private static func auc(order: ArraySlice<Int>, predictions: [Float], labels: [Float])
    -> Double?
  {
    var positives = 0.0
    var positiveRankSum = 0.0
    var start = order.startIndex
    while start < order.endIndex {
      var end = start + 1
      while end < order.endIndex && predictions[order[end]] == predictions[order[start]] {
        end += 1
      }
      // Ranks are 1-based positions within `order`; ties share the mean of their ranks.
      let firstRank = Double(start - order.startIndex + 1)
      let averageRank = firstRank + Double(end - start - 1) / 2
      for index in start..<end where labels[order[index]] > 0.5 {
        positives += 1
        positiveRankSum += averageRank
      }
      start = end
    }
    let negatives = Double(order.count) - positives
    guard positives > 0 && negatives > 0 else { return nil }
    let u = positiveRankSum - positives * (positives + 1) / 2
    return u / (positives * negatives)
  }

  /// Returns the two-sided confidence interval of AUC by DeLong's method (DeLong, DeLong and
  /// Clarke-Pearson, Biometrics 1988), clipped to [0, 1]; nil when all labels are equal.
  ///
  /// Each positive's component is the share of negatives it outranks, with ties counting half.
  /// Each negative's component is the share of positives that outrank it. The variance of AUC is
  /// var(positive components) / positives + var(negative components) / negatives, and `z` is the
  /// normal quantile (1.96 for 95 %).
  public static func aucInterval(
    predictions: [Float], labels: [Float], z: Double = 1.959963984540054
  ) -> ClosedRange<Double>? {
    requireSameCount(predictions.count, labels.count, "labels")
    let positives = predictions.indices.filter { labels[$0] > 0.5 }.map { predictions[$0] }
    let negatives = predictions.indices.filter { !(labels[$0] > 0.5) }.map { predictions[$0] }
    guard !positives.isEmpty && !negatives.isEmpty else { return nil }
    let sortedNegatives = negatives.sorted()
    let sortedPositives = positives.sorted()
    // Components from counts below and equal, found by binary search in the sorted classes.
    let positiveComponents = positives.map { value in
      let (below, equal) = countBelowAndEqual(value, in: sortedNegatives)
      return (Double(below) + Double(equal) / 2) / Double(negatives.count)
    }
    let negativeComponents = negatives.map { value in
      let (below, equal) = countBelowAndEqual(value, in: sortedPositives)
      let above = positives.count - below - equal
      return (Double(above) + Double(equal) / 2) / Double(positives.count)
    }
    let auc = positiveComponents.reduce(0, +) / Double(positives.count)
    let variance =
      sampleVariance(positiveComponents) / Double(positives.count)
      + sampleVariance(negativeComponents) / Double(negatives.count)
    let halfWidth = z * variance.squareRoot()
    return max(0, auc - halfWidth)...min(1, auc + halfWidth)
  }

  /// Returns how many values of ascending `sorted` are below `value` and how many equal it.
  private static func countBelowAndEqual(_ value: Float, in sorted: [Float]) -> (Int, Int) {
    func firstIndex(where isAfter: (Float) -> Bool) -> Int {
      var low = 0
      var high = sorted.count
      while low < high {
        let middle = (low + high) / 2
        if isAfter(sorted[middle]) { high = middle } else { low = middle + 1 }
      }
      return low
    }
    let below = firstIndex { $0 >= value }
    let notAbove = firstIndex { $0 > value }
    return (below, notAbove - below)
  }

  /// Traps on a count mismatch, in every build: -Ounchecked drops `precondition`, and a mismatch
  /// would read out of bounds.
  private static func requireSameCount(_ predictions: Int, _ other: Int, _ name: String) {
    if predictions != other {
      fatalError("Metrics: \(predictions) predictions but \(other) \(name); pass one per row")
    }
  }

  /// Returns the unbiased sample variance, 0 for fewer than two values.
  private static func sampleVariance(_ values: [Double]) -> Double {
    guard values.count > 1 else { return 0 }
    let mean = values.reduce(0, +) / Double(values.count)
    let squares = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
    return squares / Double(values.count - 1)
  }

  /// Returns the impression-weighted mean AUC of the groups that have both classes, and their
  /// number; the value is nil when no group qualifies. Rows in ``noGroup`` are left out.
  public static func gauc(predictions: [Float], labels: [Float], groups: [UInt64])
    -> (value: Double?, groups: Int)
  {
    requireSameCount(predictions.count, groups.count, "groups")
    requireSameCount(predictions.count, labels.count, "labels")
    // Sort by (group, prediction) so each group is one run already ordered for AUC.
    let order = predictions.indices.sorted {
      groups[$0] != groups[$1] ? groups[$0] < groups[$1] : predictions[$0] < predictions[$1]
    }
    var weightedSum = 0.0
    var weight = 0.0
    var used = 0
    var start = 0
    while start < order.count {
      var end = start + 1
      while end < order.count && groups[order[end]] == groups[order[start]] { end += 1 }
      if groups[order[start]] == noGroup {
        start = end
        continue
      }
      if let value = auc(order: order[start..<end], predictions: predictions, labels: labels) {
        weightedSum += value * Double(end - start)
        weight += Double(end - start)
        used += 1
      }
      start = end
    }
    return (used > 0 ? weightedSum / weight : nil, used)
  }

  /// Returns mean binary cross-entropy in nats with predictions clipped to [1e-7, 1 - 1e-7];
  /// 0 for no rows.
  public static func logLoss(predictions: [Float], labels: [Float]) -> Double {
    requireSameCount(predictions.count, labels.count, "labels")
    guard !predictions.isEmpty else { return 0 }
    var sum = 0.0
    for (p, y) in zip(predictions, labels) {
      let clipped = min(max(Double(p), epsilon), 1 - epsilon)
      let label = Double(y)
      sum -= label * Math.logarithm(clipped) + (1 - label) * Math.logarithm(1 - clipped)
    }
    return sum / Double(predictions.count)
  }

  /// Returns up to `bins` bins of equal row count, ordered by prediction. Tied predictions stay
  /// in one bin, and a bin spans its lowest to its highest prediction.
  ///
  /// Equal counts keep every bin informative at a low click rate. Bins of equal width over
  /// [0, 1] would put nearly every row in the first bin.
  public static func reliability(predictions: [Float], labels: [Float], bins: Int = 10)
    -> [ReliabilityBin]
  {
    requireSameCount(predictions.count, labels.count, "labels")
    guard !predictions.isEmpty, bins > 0 else { return [] }
    let order = predictions.indices.sorted {
      predictions[$0] != predictions[$1] ? predictions[$0] < predictions[$1] : $0 < $1
    }
    var result: [ReliabilityBin] = []
    var start = 0
    for bin in 0..<bins where start < order.count {
      var end = max(start + 1, (order.count * (bin + 1)) / bins)
      // Extend the bin over every row tied with its last prediction.
      while end < order.count && predictions[order[end]] == predictions[order[end - 1]] {
        end += 1
      }
      var predictionSum = 0.0
      var labelSum = 0.0
      for index in order[start..<end] {
        predictionSum += Double(predictions[index])
        labelSum += Double(labels[index])
      }
      let n = Double(end - start)
      result.append(
        ReliabilityBin(
          lowerBound: Double(predictions[order[start]]),
          upperBound: Double(predictions[order[end - 1]]),
          count: end - start,
          meanPrediction: predictionSum / n,
          observedRate: labelSum / n))
      start = end
    }
    return result
  }

  /// Returns precision, recall and F1 of the rule "predict a click when pCTR >= `threshold`".
  public static func classification(predictions: [Float], labels: [Float], threshold: Double)
    -> ThresholdReport
  {
    requireSameCount(predictions.count, labels.count, "labels")
    var truePositives = 0.0
    var predictedPositives = 0
    var positives = 0.0
    for (p, y) in zip(predictions, labels) {
      let label = y > 0.5 ? 1.0 : 0.0
      positives += label
      if Double(p) >= threshold {
        predictedPositives += 1
        truePositives += label
      }
    }
    let precision = predictedPositives > 0 ? truePositives / Double(predictedPositives) : nil
    let recall = positives > 0 ? truePositives / positives : nil
    // 2 TP + FP + FN is the predicted positives plus the positives.
    let f1Denominator = Double(predictedPositives) + positives
    let f1 = f1Denominator > 0 ? 2 * truePositives / f1Denominator : nil
    return ThresholdReport(
      threshold: threshold, predictedPositives: predictedPositives, precision: precision,
      recall: recall, f1: f1)
  }
}
