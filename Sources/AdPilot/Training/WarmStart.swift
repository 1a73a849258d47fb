// Warm start: training begins from the current champion's weights and reads only the rows logged
// after the champion's training window. A champion whose spec or shape differs is rejected.

import CTR
import Foundation
import Postgres

/// The champion a warm start begins from, with the end of its training window.
struct WarmStartPoint {
  var record: ModelRecord
  var model: any ClickModel
  /// The exclusive end of the rows the champion was trained on, when recorded.
  var trainTo: Date?
}

extension TrainingPipeline {
  /// Loads the champion of `name` for a warm start, or fails when the name has none.
  func warmStartPoint(name: String, dataset: DatasetInfo) throws -> WarmStartPoint {
    guard let champion = try ModelRegistry(connection: connection).champion(of: name) else {
      throw PipelineError(
        "warm start: model name '\(name)' has no champion; train once without --warm-start")
    }
    let row = try connection.query(
      "SELECT extract(epoch FROM train_to)::float8 FROM adpilot.models WHERE id = $1",
      [.text(champion.record.id)]
    ).first
    let trainTo = try row.flatMap { try $0.isNull(0) ? nil : $0.double(0) }
    return WarmStartPoint(
      record: champion.record, model: champion.model,
      trainTo: trainTo.map { Date(timeIntervalSince1970: $0) })
  }

  /// Narrows the training rows to those logged from the end of the champion's window up to
  /// the validation rows. Data sets validated by split keep their whole 'train' split.
  func warmStartWindows(
    _ windows: TrainingWindows, dataset: DatasetInfo, after start: WarmStartPoint,
    validationDays: Int
  ) throws -> TrainingWindows {
    guard dataset.validation != "split", let trainTo = start.trainTo else { return windows }
    guard trainTo < windows.trainTo else {
      throw PipelineError(
        "warm start: champion '\(start.record.id)' was trained on rows up to "
          + "\(isoInstant(trainTo)), so no newer day is left before the validation rows "
          + "from \(isoInstant(windows.trainTo)); load a later day of logs first"
          + (validationDays > 1 ? ", or lower --validation-days" : ""))
    }
    var result = windows
    result.train.from = trainTo
    result.trainFrom = trainTo
    result.description =
      "training rows: from \(isoInstant(trainTo)) (the end of champion "
      + "\(start.record.id)'s window) to \(isoInstant(windows.trainTo)); validation rows: "
      + Self.validationText(days: validationDays, from: windows.trainTo)
    return result
  }

  /// Returns the models training starts from: fresh ones, with the champion in place of the
  /// model of its kind on a warm start.
  func startingModels(
    dataset: DatasetInfo, config: TrainingConfig, options: TrainOptions, from start: WarmStartPoint?
  ) throws -> (attention: any ClickModel, logistic: any ClickModel) {
    var attention: any ClickModel = try AttentionModel(
      spec: dataset.spec, config: config, seed: options.seed)
    var logistic: any ClickModel = try LogisticModel(
      spec: dataset.spec, config: config, seed: options.seed)
    if let start {
      Self.moveOutputBias(of: start.model, toNegativeRate: config.negativeSampleRate)
      if start.model.kind == .logistic {
        logistic = start.model
      } else {
        attention = start.model
      }
    }
    return (attention, logistic)
  }

  /// Moves the output bias of `model`, trained with its own negative rate, so that a trainer
  /// with negative rate `rate` starts from the same corrected predictions.
  ///
  /// A model trained keeping a fraction `w` of the negatives predicts `sigmoid(z + log w)` from
  /// its logit `z`, so a model moved from `w` to `rate` needs `z + log w - log rate`. Without
  /// the move, a champion trained at 0.25 and continued at 1 starts four times too high.
  static func moveOutputBias(of model: any ClickModel, toNegativeRate rate: Float) {
    let trained: Float
    switch model {
    case let attention as AttentionModel: trained = attention.negativeSampleRate
    case let logistic as LogisticModel: trained = logistic.negativeSampleRate
    default: return
    }
    guard trained != rate else { return }
    model.shiftOutputBias(by: Float(log(Double(trained)) - log(Double(rate))))
  }

  /// Throws when the champion cannot continue training on `dataset`: another feature spec,
  /// other hidden-layer widths than the ones training builds (``TrainingConfig``'s), or another
  /// final-MLP activation than `activation`. A Dice champion carries its alphas and moving
  /// statistics into training.
  func checkWarmStart(
    _ start: WarmStartPoint, dataset: DatasetInfo, activation: MLPActivation
  ) throws {
    let config = TrainingConfig()
    let id = start.record.id
    if let difference = Self.specDifference(champion: start.model.spec, dataset: dataset.spec) {
      throw PipelineError(
        "warm start: champion '\(id)' has another feature spec than data set "
          + "'\(dataset.name)': \(difference); train without --warm-start to start fresh")
    }
    if let champion = start.model as? AttentionModel {
      if champion.mlpHidden != config.mlpHidden
        || champion.attentionHidden != config.attentionHidden
      {
        throw PipelineError(
          "warm start: champion '\(id)' has hidden widths MLP \(champion.mlpHidden), attention "
            + "\(champion.attentionHidden), but training builds MLP \(config.mlpHidden), "
            + "attention \(config.attentionHidden); train without --warm-start to start fresh")
      }
      if champion.mlpActivation != activation {
        throw PipelineError(
          "warm start: champion '\(id)' has MLP activation '\(champion.mlpActivation.rawValue)', "
            + "but this run asks for '\(activation.rawValue)'; pass --activation "
            + "\(champion.mlpActivation.rawValue) or train without --warm-start to start fresh")
      }
    }
  }

  /// Describes the first difference between two specs, or returns nil when they are equal.
  static func specDifference(champion: FeatureSpec, dataset: FeatureSpec) -> String? {
    specDifference(champion, dataset, labels: ("in the champion", "in the data set"))
  }

  /// Describes the first difference between specs `first` and `second`, each named by its
  /// label (such as "in the champion"), or returns nil when they are equal.
  static func specDifference(
    _ first: FeatureSpec, _ second: FeatureSpec, labels: (first: String, second: String)
  ) -> String? {
    func fields(_ spec: FeatureSpec) -> [String] {
      spec.categorical.map { "categorical '\($0.name)' (\($0.buckets) buckets)" }
        + spec.numeric.map { "numeric '\($0.name)' (\($0.buckets) buckets)" }
        + spec.sequence.map { "sequence '\($0.name)' (shares '\($0.sharesEmbeddingWith)')" }
    }
    let left = fields(first)
    let right = fields(second)
    for index in 0..<max(left.count, right.count) {
      let mine = index < left.count ? left[index] : "no field"
      let theirs = index < right.count ? right[index] : "no field"
      if mine != theirs {
        return "field \(index + 1) is \(mine) \(labels.first) but \(theirs) \(labels.second)"
      }
    }
    if first.maxSequenceLength != second.maxSequenceLength {
      return "maximum sequence length \(first.maxSequenceLength) \(labels.first) but "
        + "\(second.maxSequenceLength) \(labels.second)"
    }
    if first.embeddingDimension != second.embeddingDimension {
      return "embedding dimension \(first.embeddingDimension) \(labels.first) but "
        + "\(second.embeddingDimension) \(labels.second)"
    }
    return first == second ? nil : "the field roles differ"
  }
}
