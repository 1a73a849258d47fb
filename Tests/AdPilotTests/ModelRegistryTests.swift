// Tests of the model registry on a real PostgreSQL: versions, aliases with history, checksums,
// and the rule that a model with a non-finite validation loss is never registered.

import CTR
import Foundation
import Postgres
import TestSupport
import Testing

@testable import AdPilot

@Suite(.serialized)
struct ModelRegistryTests {
  static let spec = FeatureSpec(
    categorical: [
      CategoricalField(name: "user_city", role: .user, buckets: 16),
      CategoricalField(name: "ad_category", role: .ad, buckets: 16),
    ])

  /// Returns a small attention model; different seeds give different weights.
  func model(seed: UInt64) throws -> AttentionModel {
    var config = TrainingConfig()
    config.attentionHidden = [4]
    config.mlpHidden = [4]
    return try AttentionModel(spec: Self.spec, config: config, seed: seed)
  }

  func register(_ registry: ModelRegistry, loss: Double, seed: UInt64 = 1) throws
    -> ModelRecord
  {
    try registry.register(
      try model(seed: seed), name: "registry_test", metrics: ["auc": 0.5],
      hyperparameters: [:], validationLogLoss: loss, trainWindow: nil)
  }

  @Test func identicalModelIsStoredOnce() throws {
    let connection = try TestDatabase.connect(suite: "registry_identical")
    defer { connection.close() }
    let registry = ModelRegistry(connection: connection)
    let first = try register(registry, loss: 0.5)
    let again = try register(registry, loss: 0.5)
    #expect(again == first)
    #expect(try registry.list(name: "registry_test").count == 1)
  }

  @Test func sameWeightsWithOtherSettingsGetNewVersion() throws {
    let connection = try TestDatabase.connect(suite: "registry_settings")
    defer { connection.close() }
    let registry = ModelRegistry(connection: connection)
    let first = try register(registry, loss: 0.5)
    let otherSettings = try registry.register(
      try model(seed: 1), name: "registry_test", metrics: ["auc": 0.5],
      hyperparameters: ["learning_rate_decay": "0.5"], validationLogLoss: 0.5, trainWindow: nil)
    let otherMetrics = try registry.register(
      try model(seed: 1), name: "registry_test", metrics: ["auc": 0.5, "precision": 0.25],
      hyperparameters: [:], validationLogLoss: 0.5, trainWindow: nil)
    #expect(otherSettings.checksum == first.checksum)
    #expect(otherSettings.version == 2)
    #expect(otherMetrics.version == 3)
    let stored = try connection.query(
      "SELECT hyperparameters->>'learning_rate_decay' FROM adpilot.models WHERE id = $1",
      [.text(otherSettings.id)])
    #expect(try stored[0].string(0) == "0.5")
  }

  @Test func versionsIncrementPerName() throws {
    let connection = try TestDatabase.connect(suite: "registry_versions")
    defer { connection.close() }
    let registry = ModelRegistry(connection: connection)
    let first = try register(registry, loss: 0.5)
    let second = try register(registry, loss: 0.4, seed: 2)
    #expect(first.version == 1)
    #expect(second.version == 2)
    #expect(first.id != second.id)
    #expect(try registry.list(name: "registry_test").map(\.version) == [2, 1])
  }

  @Test func aliasMovesAndKeepsHistory() throws {
    let connection = try TestDatabase.connect(suite: "registry_alias")
    defer { connection.close() }
    let registry = ModelRegistry(connection: connection)
    let first = try register(registry, loss: 0.5)
    let second = try register(registry, loss: 0.4, seed: 2)
    try registry.setAlias("champion", of: "registry_test", to: first.id, reason: "first")
    try registry.setAlias("champion", of: "registry_test", to: second.id, reason: "better")
    #expect(try registry.alias("champion", of: "registry_test") == second.id)
    let history = try connection.query(
      """
      SELECT model_id, reason
      FROM adpilot.model_alias_history
      WHERE name = 'registry_test'
      ORDER BY set_at, reason DESC
      """)
    #expect(try history.map { try $0.string(0) } == [first.id, second.id])
    #expect(try registry.champion(of: "registry_test")?.record.id == second.id)
  }

  @Test func championIdNamesWhyThereIsNone() throws {
    let connection = try TestDatabase.connect(suite: "registry_champion_id")
    defer { connection.close() }
    let registry = ModelRegistry(connection: connection)
    let unknown = #expect(throws: PipelineError.self) {
      try registry.championId(of: "registry_test")
    }
    #expect(unknown?.message.hasPrefix("no data set or model is named 'registry_test'") == true)
    let record = try register(registry, loss: 0.5)
    let unpromoted = #expect(throws: PipelineError.self) {
      try registry.championId(of: "registry_test")
    }
    #expect(
      unpromoted?.message == "model name 'registry_test' has no champion; "
        + "train one with `adpilot train --dataset registry_test`")
    try registry.setAlias("champion", of: "registry_test", to: record.id, reason: "first")
    #expect(try registry.championId(of: "registry_test") == record.id)
  }

  @Test func promotionMovesChampionByHand() throws {
    let connection = try TestDatabase.connect(suite: "registry_promote")
    defer { connection.close() }
    let registry = ModelRegistry(connection: connection)
    let first = try register(registry, loss: 0.5)
    let second = try register(registry, loss: 0.4, seed: 2)
    try registry.setAlias("champion", of: "registry_test", to: second.id, reason: "better")

    let (record, previous) = try registry.promote(id: first.id, reason: "roll back")
    #expect(record == first)
    #expect(previous == second.id)
    #expect(try registry.alias("champion", of: "registry_test") == first.id)
    let moves = try registry.history(of: "registry_test")
    #expect(moves.map(\.modelId) == [second.id, first.id])
    #expect(moves.map(\.reason) == ["better", "promoted by hand: roll back"])
    #expect(moves.allSatisfy { $0.alias == "champion" })

    do {
      _ = try registry.promote(id: first.id, reason: "again")
      Issue.record("promoting the champion again did not fail")
    } catch let error as PipelineError {
      #expect(
        error.message
          == "model '\(first.id)' is already the champion of 'registry_test'; see its moves with "
          + "`adpilot models history --name registry_test`")
    }
    do {
      _ = try registry.promote(id: "registry_test-v9-00000000", reason: "typo")
      Issue.record("promoting an unknown id did not fail")
    } catch let error as PipelineError {
      #expect(
        error.message
          == "model 'registry_test-v9-00000000' not found in adpilot.models; list models with "
          + "`adpilot models`")
    }
    #expect(try registry.history(of: "registry_test").count == 2)

    // A reason must be one short line: blank, multi-line, escape-laden or huge ones fail, each
    // with the reason named.
    let fix = "say in a few words, on one line, why the model should serve"
    var rejected: [(reason: String, message: String)] = [
      ("   ", "is empty or only spaces"),
      ("\u{2029}", "is empty or only spaces"),
      (String(repeating: "x", count: 501), "has 501 characters, more than 500"),
      ("a" + String(repeating: "\u{0301}", count: 600), "has 601 characters, more than 500"),
    ]
    let hidden: [(reason: String, code: String, position: Int)] = [
      ("roll\nback", "000A", 5), ("\u{1B}[2Jforged", "001B", 1), ("a\u{2028}b", "2028", 2),
      ("\u{202E}reversed", "202E", 1), ("zero\u{200B}width", "200B", 5), ("a\tb", "0009", 2),
    ]
    for (reason, code, position) in hidden {
      rejected.append(
        (
          reason,
          "has U+\(code), a line break, control or hidden formatting character, at character "
            + "\(position)"
        ))
    }
    for (reason, message) in rejected {
      do {
        _ = try registry.promote(id: second.id, reason: reason)
        Issue.record("reason \(reason.debugDescription) was accepted")
      } catch let error as PipelineError {
        #expect(
          error.message == "promotion reason \(message); \(fix)", "\(reason.debugDescription)")
      }
    }
    #expect(try registry.alias("champion", of: "registry_test") == first.id)
  }

  @Test func promotionChecksWeightsAndSpec() throws {
    let connection = try TestDatabase.connect(suite: "registry_promote_checks")
    defer { connection.close() }
    let registry = ModelRegistry(connection: connection)
    let first = try register(registry, loss: 0.5)
    let second = try register(registry, loss: 0.4, seed: 2)
    try registry.setAlias("champion", of: "registry_test", to: first.id, reason: "first")

    // A data set of the model's name with one more field: its requests would not fit.
    var other = Self.spec
    other.categorical.append(CategoricalField(name: "hour", role: .context, buckets: 24))
    let json = String(decoding: try JSONEncoder().encode(other), as: UTF8.self)
    try connection.execute(
      """
      INSERT INTO adpilot.datasets (name, feature_spec, source)
      VALUES ('registry_test', $1::jsonb, 'test')
      """, [.jsonb(json)])
    do {
      _ = try registry.promote(id: second.id, reason: "layout")
      Issue.record("a model of another layout was promoted")
    } catch let error as PipelineError {
      #expect(
        error.message
          == "model '\(second.id)' has another feature spec than data set 'registry_test', "
          + "whose requests its champion scores; promote a model trained on the data set's "
          + "current layout")
    }
    try connection.execute("DELETE FROM adpilot.datasets WHERE name = 'registry_test'")

    try connection.execute(
      "UPDATE adpilot.models SET weights = weights || '\\x00'::bytea WHERE id = $1",
      [.text(second.id)])
    #expect(throws: PipelineError.self) {
      _ = try registry.promote(id: second.id, reason: "corrupt")
    }
    #expect(try registry.alias("champion", of: "registry_test") == first.id)
  }

  @Test func loadRejectsCorruptedWeights() throws {
    let connection = try TestDatabase.connect(suite: "registry_checksum")
    defer { connection.close() }
    let registry = ModelRegistry(connection: connection)
    let record = try register(registry, loss: 0.5)
    #expect(try registry.load(id: record.id).kind == .attention)
    try connection.execute(
      "UPDATE adpilot.models SET weights = weights || '\\x00'::bytea WHERE id = $1",
      [.text(record.id)])
    #expect(throws: PipelineError.self) {
      _ = try registry.load(id: record.id)
    }
  }

  @Test func nonFiniteLossIsNotRegistered() throws {
    let connection = try TestDatabase.connect(suite: "registry_nan")
    defer { connection.close() }
    let registry = ModelRegistry(connection: connection)
    #expect(throws: PipelineError.self) {
      _ = try register(registry, loss: .nan)
    }
    #expect(try registry.list(name: "registry_test").isEmpty)
  }
}
