// Tests of what `adpilot train` prints and stores for precision, recall and F1, on predictions
// small enough to count by hand. No database: the outcome is built directly.

import CTR
import Foundation
import Testing

@testable import AdPilot
@testable import adpilot

// Six validation rows at threshold 0.5: 0.9, 0.6, 0.7 and 0.55 reach it, and two of them
// (0.9, 0.7) are clicks, so precision = 2 / 4 = 0.5. Three rows are clicks, so
// recall = 2 / 3, and F1 = 2 * 0.5 * (2 / 3) / (0.5 + 2 / 3) = 4 / 7 = 0.5714.
private let predictions: [Float] = [0.9, 0.6, 0.4, 0.2, 0.7, 0.55]
private let labels: [Float] = [1, 0, 1, 0, 1, 0]

private func handReport() -> EvaluationReport {
  Metrics.evaluate(predictions: predictions, labels: labels, groups: nil, threshold: 0.5)
}

@Test func metricsDictionaryStoresThresholdFigures() throws {
  let metrics = TrainingPipeline.metricsDictionary(handReport())
  #expect(metrics["threshold"] == 0.5)
  #expect(metrics["predicted_clicks"] == 4)
  #expect(metrics["precision"] == 0.5)
  #expect(abs(try #require(metrics["recall"]) - 2.0 / 3.0) < 1e-15)
  #expect(abs(try #require(metrics["f1"]) - 4.0 / 7.0) < 1e-15)
  #expect(metrics["rows"] == 6)
  #expect(metrics["clicks"] == 3)
}

@Test func metricsDictionaryOmitsUndefinedPrecision() {
  // No row reaches 0.95, so precision is undefined. Recall is 0 / 3, and F1 is
  // 2 TP / (2 TP + FP + FN) = 0 / 3.
  let report = Metrics.evaluate(
    predictions: predictions, labels: labels, groups: nil, threshold: 0.95)
  let metrics = TrainingPipeline.metricsDictionary(report)
  #expect(metrics["predicted_clicks"] == 0)
  #expect(metrics["precision"] == nil)
  #expect(metrics["recall"] == 0)
  #expect(metrics["f1"] == 0)
}

@Test func defaultThresholdIsTrainingClickRate() {
  #expect(TrainingPipeline.defaultThreshold(ImpressionStatistics(rows: 200, clicks: 7)) == 0.035)
  #expect(TrainingPipeline.defaultThreshold(ImpressionStatistics(rows: 10, clicks: 0)) == 0.5)
  #expect(TrainingPipeline.defaultThreshold(ImpressionStatistics(rows: 10, clicks: 10)) == 0.5)
}

@Test func trainOutputPrintsThresholdColumns() throws {
  let report = handReport()
  func evaluation(_ id: String, _ kind: String) -> ModelEvaluation {
    ModelEvaluation(
      label: kind,
      record: ModelRecord(
        id: id, name: "hand", version: 1, kind: kind, checksum: "", validationLogLoss: nil,
        createdAt: ""),
      report: report)
  }
  let attention = evaluation("hand-v1", "attention")
  let outcome = TrainOutcome(
    dataset: DatasetInfo(
      name: "hand", spec: FeatureSpec(categorical: []), validation: "time", source: "test"),
    trainRows: 100, validationRows: 6, epochs: 1, attention: attention,
    logistic: evaluation("hand-v2", "logistic"), previousChampion: nil,
    champion: attention.record, championReason: "first model", validationDescription: "",
    negativeRate: 1, droppedNegatives: 0, warmStartedFrom: nil, firstStepLoss: (0, 0),
    threshold: 0.5, mlpActivation: .dice)
  let context = Context(environment: [:], logger: Logger(minimumLevel: .error), echo: false)
  printTrainOutcome(outcome, context)
  let lines = context.output.split(separator: "\n").map(String.init)

  #expect(lines.contains("the attention model's final MLP uses dice"))
  #expect(
    lines.contains("precision, recall and F1 count rows with pCTR >= 0.50000 as predicted clicks"))
  let header = try #require(lines.first { $0.hasPrefix("model") })
  #expect(header.hasSuffix("    prec  recall      F1"))
  let rows = lines.filter { $0.hasPrefix("hand-v") }
  #expect(rows.count == 2)
  for row in rows {
    #expect(row.hasSuffix("  0.5000  0.6667  0.5714"), "\(row)")
  }
}

/// Returns the lines `adpilot train` prints for a one-model outcome of `kind` on `report`.
///
/// With `warmStart`, the run began from a champion of kind `championKind`, or of `kind` when it
/// is nil.
private func printedLines(
  report: EvaluationReport, kind: String, epochs: Int, warmStart: Bool = false,
  championKind: String? = nil, validation: String = "time", validationDaysGiven: Bool = false,
  bestEpoch: (attention: Int, logistic: Int) = (1, 1), warmStartSplitNote: String? = nil
) -> [String] {
  let record = ModelRecord(
    id: "hand-v3", name: "hand", version: 3, kind: kind, checksum: "", validationLogLoss: nil,
    createdAt: "")
  var champion = record
  champion.kind = championKind ?? kind
  let evaluation = ModelEvaluation(label: kind, record: record, report: report)
  var outcome = TrainOutcome(
    dataset: DatasetInfo(
      name: "hand", spec: FeatureSpec(categorical: []), validation: validation, source: "test"),
    trainRows: 100, validationRows: report.count, epochs: epochs, attention: evaluation,
    logistic: evaluation, previousChampion: nil, champion: record,
    championReason: "first model", validationDescription: "", negativeRate: 1,
    droppedNegatives: 0, warmStartedFrom: warmStart ? champion : nil, firstStepLoss: (0.25, 0.5),
    threshold: 0.5, mlpActivation: .relu)
  outcome.bestEpoch = bestEpoch
  outcome.warmStartSplitNote = warmStartSplitNote
  let context = Context(environment: [:], logger: Logger(minimumLevel: .error), echo: false)
  printTrainOutcome(outcome, context, validationDaysGiven: validationDaysGiven)
  return context.output.split(separator: "\n").map(String.init)
}

@Test func warmStartLineNamesFreshModel() {
  // The champion's kind, the kind of the run's attention model, and the model that starts fresh.
  for (championKind, kind, fresh) in [
    ("logistic", "attention", "the attention model"), ("logistic", "dnn", "the dnn model"),
    ("attention", "attention", "the logistic baseline"), ("dnn", "dnn", "the logistic baseline"),
  ] {
    let lines = printedLines(
      report: handReport(), kind: kind, epochs: 1, warmStart: true, championKind: championKind)
    let expected =
      "warm start from champion hand-v3 (\(championKind)); \(fresh) starts from fresh weights: "
      + "first-step training loss attention 0.2500, logistic 0.5000"
    #expect(lines.contains(expected), "\(lines)")
    #expect(lines.first == "data set hand: trained on 100 rows for 1 epoch; validated on 6 rows")
  }
  // On a data set with splits there is no later day, so the line names the rows used.
  let splitNote =
    "the data set has train and test splits, not days, so the warm start trained on split "
    + "'train' as it is loaded now; import the newer rows into it first"
  let split = printedLines(
    report: handReport(), kind: "attention", epochs: 1, warmStart: true, validation: "split")
  #expect(split.contains(splitNote))
  let days = printedLines(report: handReport(), kind: "attention", epochs: 1, warmStart: true)
  #expect(!days.contains(splitNote))
}

@Test func warmStartSplitNoteIsPrinted() {
  let note = "note: champion hand-v1 was trained on another 'train' split"
  let lines = printedLines(
    report: handReport(), kind: "attention", epochs: 1, warmStart: true, validation: "split",
    warmStartSplitNote: note)
  #expect(lines.contains(note))
  let plain = printedLines(
    report: handReport(), kind: "attention", epochs: 1, warmStart: true, validation: "split")
  #expect(!plain.contains { $0.contains("another 'train' split") })
}

@Test func keptEpochsArePrintedAfterSeveralEpochs() {
  let line =
    "kept each model's weights from its epoch of lowest validation log loss: attention epoch 3, "
    + "logistic epoch 2"
  let several = printedLines(report: handReport(), kind: "attention", epochs: 4, bestEpoch: (3, 2))
  #expect(several.contains(line))
  // One epoch leaves nothing to choose.
  let singleEpoch = printedLines(report: handReport(), kind: "attention", epochs: 1)
  #expect(!singleEpoch.contains { $0.hasPrefix("kept each model's weights") })
}

@Test func oneClassValidationPrintsWarning() {
  func lines(labels: [Float]) -> [String] {
    let report = Metrics.evaluate(
      predictions: [0.1, 0.2, 0.3], labels: labels, groups: nil, threshold: 0.5)
    return printedLines(report: report, kind: "attention", epochs: 2)
  }
  let warning =
    "warning: the validation rows are all non-clicks, so AUC is undefined and log loss alone "
    + "chose the champion; validate on days with both clicks and non-clicks"
  #expect(lines(labels: [0, 0, 0]).contains(warning))
  #expect(
    lines(labels: [1, 1, 1]).contains(
      warning.replacingOccurrences(of: "all non-clicks", with: "all clicks")))
  #expect(!lines(labels: [0, 1, 0]).contains { $0.hasPrefix("warning:") })
  #expect(
    lines(labels: [0, 1, 0]).first
      == "data set hand: trained on 100 rows for 2 epochs; validated on 3 rows")
}

@Test func weakChampionGetsNote() {
  // Clicks at 0.2 and 0.3, non-clicks at 0.8 and 0.7: log loss (2 ln 5 + 2 ln (10 / 3)) / 4 =
  // 1.4067 against ln 2 for the validation click rate of 0.5, so NE = 2.0294.
  let weak = Metrics.evaluate(
    predictions: [0.2, 0.8, 0.3, 0.7], labels: [1, 0, 1, 0], groups: nil, threshold: 0.5)
  let note =
    "note: the champion's normalized entropy is 2.0294, so on the validation rows it predicts "
    + "no better than their click rate would; a click rate that differs between training and "
    + "validation rows also does this. Check the training rows, or roll back with `adpilot "
    + "models promote MODEL_ID --reason TEXT`"
  #expect(printedLines(report: weak, kind: "attention", epochs: 1).contains(note))
  // The hand-counted report's NE is 0.80, below 1: no note.
  let lines = printedLines(report: handReport(), kind: "attention", epochs: 1)
  #expect(!lines.contains { $0.hasPrefix("note: the champion's normalized entropy") })
}

@Test func validationDaysOnSplitDataGetsNote() {
  func lines(validation: String, given: Bool) -> [String] {
    printedLines(
      report: handReport(), kind: "attention", epochs: 1, validation: validation,
      validationDaysGiven: given)
  }
  let note =
    "the data set validates on its 'test' split, so --validation-days was not used; leave it "
    + "out for data sets with splits"
  #expect(lines(validation: "split", given: true).contains(note))
  #expect(!lines(validation: "split", given: false).contains(note))
  #expect(!lines(validation: "time", given: true).contains(note))
}

@Test func sparseValidationDaysAreWarned() {
  let start = Date(timeIntervalSince1970: 1_371_081_600)  // 2013-06-13
  #expect(
    TrainingPipeline.sparseValidationWarning(
      train: (700, 7), validation: (1, 1), validationStart: start)
      == "warning: the validation days average 1 rows a day, against 100 a day in training; if "
      + "a stray timestamp made the last logged day (2013-06-13T00:00:00.000Z on), fix or "
      + "delete those rows")
  // A quiet day at a tenth of the training days' rate or more is no stray.
  #expect(
    TrainingPipeline.sparseValidationWarning(
      train: (700, 7), validation: (10, 1), validationStart: start) == nil)
  #expect(
    TrainingPipeline.sparseValidationWarning(
      train: (700, 7), validation: (19, 2), validationStart: start) != nil)
}
