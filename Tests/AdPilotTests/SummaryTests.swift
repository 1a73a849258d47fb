// Tests of what `adpilot summary`, `adpilot generate` and `adpilot models` print for a champion
// of another layout, a data set without features, models trained on a data set under another
// name, an empty registry and long model ids.

import CTR
import Foundation
import Postgres
import TestSupport
import Testing

@testable import AdPilot
@testable import adpilot

@Suite(.serialized)
struct SummaryTests {
  static let suite = "summary"
  static let logger = Logger(minimumLevel: .error)

  /// A training configuration with one hidden layer of 4 units in each network.
  static var smallConfig: TrainingConfig {
    var config = TrainingConfig()
    config.attentionHidden = [4]
    config.mlpHidden = [4]
    return config
  }

  /// Runs `adpilot generate` with `arguments` on the suite's database and returns its output.
  func generate(_ arguments: [String]) throws -> [String] {
    let config = try TestDatabase.config(suite: Self.suite)
    let context = Context(
      environment: ["DATABASE_URL": config.url], logger: Self.logger, echo: false)
    let small = [
      "--days", "2", "--impressions-per-day", "200", "--users", "100", "--ads", "24",
      "--requests", "4",
    ]
    try generateCommand.run(
      try parseArguments(small + arguments, options: generateCommand.options), context)
    return context.output.split(separator: "\n").map(String.init)
  }

  @Test func championOfOtherLayoutIsNoted() throws {
    _ = try generate(["--sequence-length", "4"])
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let config = Self.smallConfig
    let registry = ModelRegistry(connection: connection)
    let record = try registry.register(
      try AttentionModel(
        spec: try loadDataset(connection, name: "synthetic").spec, config: config, seed: 1),
      name: "synthetic", metrics: [:], hyperparameters: [:], validationLogLoss: 0.5,
      trainWindow: nil)
    try registry.setAlias("champion", of: "synthetic", to: record.id, reason: "test")
    let note =
      "note: champion \(record.id) of 'synthetic' was trained on another feature spec than the "
      + "data set has now, so `adpilot score` and `adpilot worker` fail on the data set's "
      + "requests; train it again with `adpilot train --dataset synthetic`, which replaces that "
      + "champion"
    #expect(!(try summaryLines(connection, dataset: "synthetic")).contains(note))

    // A longer behaviour list changes the spec that the champion was trained on.
    let output = try generate(["--sequence-length", "6"])
    #expect(output.contains(note), "\(output)")
    let lines = try summaryLines(connection, dataset: "synthetic")
    #expect(lines.contains(note), "\(lines)")

    // Back to the champion's layout, nothing is noted.
    let same = try generate(["--sequence-length", "4"])
    #expect(!same.contains(note), "\(same)")
    #expect(!(try summaryLines(connection, dataset: "synthetic")).contains(note))
  }

  @Test func modelsOfAnotherNameAreListed() throws {
    _ = try generate(["--sequence-length", "4"])
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let config = Self.smallConfig
    let registry = ModelRegistry(connection: connection)
    let spec = try loadDataset(connection, name: "synthetic").spec
    let before = try summaryLines(connection, dataset: "synthetic")
    #expect(!before.contains { $0.hasPrefix("models named") }, "\(before)")
    // Two models trained on the data set under another name, one of them its champion, and one
    // of a third name trained on another data set, which stays out of the list.
    var champion = ""
    let models = [("other", "synthetic"), ("other", "synthetic"), ("third", "x")]
    for (seed, (name, trainedOn)) in models.enumerated() {
      let record = try registry.register(
        try AttentionModel(spec: spec, config: config, seed: UInt64(seed)), name: name,
        metrics: ["auc": 0.61234], hyperparameters: ["train_dataset": trainedOn],
        validationLogLoss: 0.25, trainWindow: nil)
      if name == "other" { champion = record.id }
    }
    try registry.setAlias("champion", of: "other", to: champion, reason: "test")
    let lines = try summaryLines(connection, dataset: "synthetic")
    #expect(
      lines.contains(
        "models named 'other': 2 registered; champion \(champion) "
          + "(validation log loss 0.25000, AUC 0.6123)"), "\(lines)")
    #expect(!lines.contains { $0.contains("'third'") }, "\(lines)")
  }

  @Test func featurelessDataSetGetsNoTrainHint() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let spec = String(
      decoding: try JSONEncoder().encode(IPinYouStreamImporter.spec), as: UTF8.self)
    try connection.execute(
      """
      INSERT INTO adpilot.datasets (name, feature_spec, validation, source)
      VALUES ('featureless', $1::jsonb, 'time', 'test') ON CONFLICT DO NOTHING
      """, [.text(spec)])
    let lines = try summaryLines(connection, dataset: "featureless")
    #expect(
      lines.contains(
        "models: none registered; the data set logs no features (it carries an outside "
          + "model's pCTR), so no model trains on it"), "\(lines)")
    #expect(!lines.contains { $0.contains("adpilot train") }, "\(lines)")
  }
}

@Test func emptyRegistryListIsExplained() throws {
  let config = try TestDatabase.config(suite: "models.empty")
  let context = Context(
    environment: ["DATABASE_URL": config.url], logger: Logger(minimumLevel: .error), echo: false)
  try modelsCommand.run(try parseArguments([], options: modelsCommand.options), context)
  #expect(
    context.output == "no models registered; train one with `adpilot train --dataset NAME`\n")
}

@Test func modelListAlignsLongIds() throws {
  let config = try TestDatabase.config(suite: "models.wide")
  let connection = try Connection(config)
  defer { connection.close() }
  let spec = FeatureSpec(
    categorical: [CategoricalField(name: "user_city", role: .user, buckets: 16)])
  var training = TrainingConfig()
  training.attentionHidden = [4]
  training.mlpHidden = [4]
  let registry = ModelRegistry(connection: connection)
  // A model name of the maximum 63 characters gives an id of 75 characters at version 1.
  for name in ["short", String(repeating: "n", count: 63)] {
    _ = try registry.register(
      try LogisticModel(spec: spec, config: training, seed: 1), name: name, metrics: [:],
      hyperparameters: [:], validationLogLoss: 0.5, trainWindow: nil)
  }
  let context = Context(
    environment: ["DATABASE_URL": config.url], logger: Logger(minimumLevel: .error), echo: false)
  try modelsCommand.run(try parseArguments([], options: modelsCommand.options), context)
  let lines = context.output.split(separator: "\n").map(String.init)
  #expect(lines.count == 3)
  // The header's "kind" and each row's kind start at the same column.
  func kindColumn(_ line: String) -> Int? {
    guard let range = line.range(of: "kind") ?? line.range(of: "logistic") else { return nil }
    return line.distance(from: line.startIndex, to: range.lowerBound)
  }
  let columns = lines.map(kindColumn)
  #expect(!columns.contains(nil), "\(lines)")
  #expect(Set(columns).count == 1, "\(lines)")
}
