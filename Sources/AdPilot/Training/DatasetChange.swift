// Detects that an import or `adpilot generate` replaced a data set while a training run used the
// rows of its snapshot, so that the run's models do not take over the champion alias.

import CTR
import Postgres

/// A data set's row in adpilot.datasets as a training run's snapshot read it.
struct DatasetVersion: Sendable {
  var name: String
  var spec: FeatureSpec
  /// The row's `xmin`, the id of the transaction that last wrote it. Every import and
  /// `adpilot generate` rewrites the row (``registerDataset(_:name:spec:validation:source:)``)
  /// in the transaction that replaces the data set's impressions, so another value means that
  /// the impressions were replaced, even by identical ones.
  var rowVersion: String
}

extension TrainingPipeline {
  /// Reads the version of data set `dataset`'s row, in the caller's transaction.
  func datasetVersion(_ dataset: DatasetInfo) throws -> DatasetVersion {
    guard let rowVersion = try datasetRowVersion(dataset.name) else {
      throw PipelineError(
        "data set '\(dataset.name)' not found in adpilot.datasets; load it with `adpilot import` "
          + "or `adpilot generate`")
    }
    return DatasetVersion(name: dataset.name, spec: dataset.spec, rowVersion: rowVersion)
  }

  /// Describes how data set `read` changed since the training snapshot read it, or returns nil
  /// when it did not. The caller holds the data set's advisory lock, so no import or generation
  /// of it is part way through.
  func datasetChange(since read: DatasetVersion) throws -> String? {
    guard let rowVersion = try datasetRowVersion(read.name) else {
      return "data set '\(read.name)' was deleted"
    }
    guard rowVersion != read.rowVersion else { return nil }
    let replaced = "an import or `adpilot generate` replaced the rows of data set '\(read.name)'"
    let current = try loadDataset(connection, name: read.name)
    guard
      let difference = Self.specDifference(
        read.spec, current.spec, labels: ("in the trained models", "in the data set now"))
    else { return replaced }
    return "\(replaced) and changed its feature spec (\(difference))"
  }

  /// Returns the note `adpilot train` prints when the data set changed during the run.
  static func datasetChangeNote(_ change: String, dataset: String, modelName: String) -> String {
    let command =
      "adpilot train --dataset \(dataset)"
      + (modelName == dataset ? "" : " --model-name \(modelName)")
    return "note: \(change) after training read its rows. The models above are registered, but "
      + "they do not describe the data set's current rows, so the champion alias was not "
      + "moved; train again with `\(command)`"
  }

  private func datasetRowVersion(_ name: String) throws -> String? {
    try connection.query(
      "SELECT xmin::text FROM adpilot.datasets WHERE name = $1", [.text(name)]
    ).first?.string(0)
  }
}
