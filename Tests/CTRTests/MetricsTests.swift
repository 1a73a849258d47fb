// Tests of the offline metrics on small cases computed by hand, ties included.
// Log values are written out to 16 digits: ln(0.8) = -0.2231435513142097, ln(0.7) = -0.356674944.

import Testing

@testable import CTR

@Test func aucWithoutTies() {
  // Pairs (pos, neg): 0.35 beats 0.1 only; 0.8 beats both: 3 of 4.
  #expect(Metrics.auc(predictions: [0.1, 0.4, 0.35, 0.8], labels: [0, 0, 1, 1]) == 0.75)
}

@Test func aucGivesTiesHalfCredit() {
  // Positive 0.5 beats 0.2 and ties two negatives (2 x 0.5); positive 0.9 beats all three: 5/6.
  let auc = Metrics.auc(predictions: [0.5, 0.5, 0.5, 0.2, 0.9], labels: [1, 0, 0, 0, 1])
  #expect(auc == 5.0 / 6.0)
  #expect(Metrics.auc(predictions: [0.3, 0.3, 0.3, 0.3], labels: [1, 0, 1, 0]) == 0.5)
  #expect(Metrics.auc(predictions: [0.9, 0.1], labels: [0, 1]) == 0)
}

@Test func aucIntervalFollowsDeLong() throws {
  // Positive components: 0.35 beats one of two negatives (0.5), 0.8 beats both (1). Negative
  // components: both positives outrank 0.1 (1), one outranks 0.4 (0.5). Each pair has sample
  // variance 0.125, so var(AUC) = 0.125 / 2 + 0.125 / 2 = 0.125 around AUC 0.75.
  let interval = try #require(
    Metrics.aucInterval(predictions: [0.1, 0.4, 0.35, 0.8], labels: [0, 0, 1, 1]))
  #expect(abs(interval.lowerBound - (0.75 - 1.959963984540054 * 0.125.squareRoot())) < 1e-12)
  #expect(interval.upperBound == 1)

  // Ties count half. Positive components: 0.5 beats 0.2, 0.1 and ties 0.5 (5/6), 0.9 beats all
  // (1). Negative components: 0.5 is outranked by 0.9 and tied with 0.5 (3/4), 0.2 and 0.1 by
  // both (1, 1). AUC = 11/12; variances 1/72 and 1/48 give var(AUC) = 1/144 + 1/144 = 1/72.
  let tiedPredictions: [Float] = [0.5, 0.9, 0.5, 0.2, 0.1]
  let tiedLabels: [Float] = [1, 1, 0, 0, 0]
  let tied = try #require(Metrics.aucInterval(predictions: tiedPredictions, labels: tiedLabels))
  let halfWidth = 1.959963984540054 * (1.0 / 72).squareRoot()
  #expect(abs(tied.lowerBound - (11.0 / 12 - halfWidth)) < 1e-12)
  #expect(tied.upperBound == 1)
  #expect(abs(Metrics.auc(predictions: tiedPredictions, labels: tiedLabels)! - 11.0 / 12) < 1e-15)

  // Perfect separation has zero variance.
  let perfect = Metrics.aucInterval(predictions: [0.1, 0.2, 0.8, 0.9], labels: [0, 0, 1, 1])
  #expect(perfect == 1...1)
  #expect(Metrics.aucInterval(predictions: [0.3], labels: [1]) == nil)
}

@Test func aucIsNilForOneClass() {
  #expect(Metrics.auc(predictions: [0.2, 0.4], labels: [1, 1]) == nil)
  #expect(Metrics.auc(predictions: [], labels: []) == nil)
}

@Test func gaucWeightsGroupsByImpressions() {
  // Group 1: AUC 1 over 3 rows; group 2: AUC 0 over 2 rows; group 3 has one class, skipped.
  let result = Metrics.gauc(
    predictions: [0.1, 0.9, 0.3, 0.5, 0.6, 0.2],
    labels: [0, 1, 1, 0, 0, 1],
    groups: [1, 1, 2, 1, 2, 3])
  #expect(result.groups == 2)
  #expect(result.value == 0.6)
  let none = Metrics.gauc(predictions: [0.1, 0.2], labels: [1, 1], groups: [1, 2])
  #expect(none.value == nil)
  #expect(none.groups == 0)
}

@Test func logLossMatchesHandValues() {
  let loss = Metrics.logLoss(predictions: [0.8, 0.3], labels: [1, 0])
  #expect(abs(loss - (0.2231435513142097 + 0.35667494393873245) / 2) < 1e-7)
  // A prediction of 0 for a click is clipped to 1e-7: -ln(1e-7) = 16.11809565095832.
  let clipped = Metrics.logLoss(predictions: [0], labels: [1])
  #expect(abs(clipped - 16.11809565095832) < 1e-9)
}

@Test func evaluateReportsEveryFigure() {
  let report = Metrics.evaluate(predictions: [0.8, 0.3], labels: [1, 0], groups: nil)
  let loss = (0.2231435513142097 + 0.35667494393873245) / 2
  #expect(report.count == 2)
  #expect(report.clicks == 1)
  #expect(report.auc == 1)
  #expect(report.gauc == nil)
  #expect(abs(report.logLoss - loss) < 1e-7)
  // The base rate 0.5 has entropy ln 2 = 0.6931471805599453.
  #expect(abs(report.normalizedEntropy! - loss / 0.6931471805599453) < 1e-7)
  #expect(abs(report.calibration! - 1.1) < 1e-6)
}

@Test func evaluateWithoutClicksHasNoRatios() {
  let report = Metrics.evaluate(predictions: [0.1, 0.2], labels: [0, 0], groups: [1, 1])
  #expect(report.auc == nil)
  #expect(report.normalizedEntropy == nil)
  #expect(report.calibration == nil)
  #expect(report.gauc == nil)
}

@Test func reliabilityBinsHoldEqualCounts() {
  // Sorted: 0.05 (0), 0.12 (0) | 0.15 (1), 0.95 (1), 1.0 (1).
  let bins = Metrics.reliability(
    predictions: [0.05, 0.15, 0.95, 1.0, 0.12], labels: [0, 1, 1, 1, 0], bins: 2)
  #expect(bins.count == 2)
  #expect(bins[0].count == 2)
  #expect(bins[0].lowerBound == Double(Float(0.05)))
  #expect(bins[0].upperBound == Double(Float(0.12)))
  #expect(abs(bins[0].meanPrediction - 0.085) < 1e-7)
  #expect(bins[0].observedRate == 0)
  #expect(bins[1].count == 3)
  #expect(abs(bins[1].meanPrediction - 0.7) < 1e-7)
  #expect(bins[1].observedRate == 1)
}

@Test func reliabilityNeverSplitsTiedPredictions() {
  // A quarter of four rows is one row, but the three tied 0.1s stay together.
  let bins = Metrics.reliability(predictions: [0.1, 0.2, 0.1, 0.1], labels: [0, 1, 1, 0], bins: 4)
  #expect(bins.map(\.count) == [3, 1])
  #expect(bins[0].lowerBound == bins[0].upperBound)
  #expect(abs(bins[0].observedRate - 1.0 / 3.0) < 1e-12)
  #expect(bins[1].observedRate == 1)
  #expect(Metrics.reliability(predictions: [], labels: []).isEmpty)
}

@Test func classificationCountsPredictionsAtTheThreshold() {
  let predictions: [Float] = [0.9, 0.6, 0.4, 0.2, 0.7]
  let labels: [Float] = [1, 0, 1, 0, 1]
  // Reaching 0.5: 0.9 (click), 0.6 (no click), 0.7 (click); three clicks in all.
  let report = Metrics.classification(predictions: predictions, labels: labels, threshold: 0.5)
  #expect(report.predictedPositives == 3)
  #expect(report.precision == 2.0 / 3.0)
  #expect(report.recall == 2.0 / 3.0)
  #expect(report.f1 == 2.0 / 3.0)
  // A prediction equal to the threshold counts as a predicted click.
  let atPoint = Metrics.classification(
    predictions: predictions, labels: labels, threshold: Double(Float(0.9)))
  #expect(atPoint.predictedPositives == 1)
  #expect(atPoint.precision == 1)
  #expect(atPoint.recall == 1.0 / 3.0)
  #expect(atPoint.f1 == 0.5)
  let none = Metrics.classification(predictions: predictions, labels: labels, threshold: 0.95)
  #expect(none.precision == nil)
  #expect(none.recall == 0)
  // No true positives and three false negatives: 2 TP / (2 TP + FP + FN) = 0 / 3.
  #expect(none.f1 == 0)
  let noClicks = Metrics.classification(predictions: [0.7], labels: [0], threshold: 0.5)
  #expect(noClicks.precision == 0)
  #expect(noClicks.recall == nil)
  #expect(noClicks.f1 == 0)
  let neither = Metrics.classification(predictions: [0.2], labels: [0], threshold: 0.5)
  #expect(neither.precision == nil)
  #expect(neither.recall == nil)
  #expect(neither.f1 == nil)
}

@Test func evaluateReportsThresholdFiguresOnlyWhenAsked() {
  let predictions: [Float] = [0.9, 0.1]
  let labels: [Float] = [1, 0]
  #expect(
    Metrics.evaluate(predictions: predictions, labels: labels, groups: nil).classification == nil)
  let report = Metrics.evaluate(
    predictions: predictions, labels: labels, groups: nil, threshold: 0.5)
  #expect(report.classification?.f1 == 1)
}

@Test func gaucLeavesOutUngroupedRows() {
  // Group 1: AUC 1 over 2 rows. The four rows in noGroup would form a group of AUC 0 that
  // outweighs it, but they are left out.
  let result = Metrics.gauc(
    predictions: [0.1, 0.9, 0.8, 0.7, 0.2, 0.3],
    labels: [0, 1, 0, 0, 1, 1],
    groups: [1, 1, Metrics.noGroup, Metrics.noGroup, Metrics.noGroup, Metrics.noGroup])
  #expect(result.groups == 1)
  #expect(result.value == 1)
  let ungrouped = Metrics.gauc(
    predictions: [0.1, 0.9], labels: [0, 1], groups: [Metrics.noGroup, Metrics.noGroup])
  #expect(ungrouped.groups == 0)
  #expect(ungrouped.value == nil)
}
